package stack

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/kiln-build/kiln/stacks/debian"
)

// FileName is the name of a stack recipe inside its directory.
const FileName = "stack.toml"

// Labels a stack sets or requires besides those stacks/debian sets.
const (
	LabelMaintainer  = "io.buildpacks.base.maintainer"
	LabelHomepage    = "io.buildpacks.base.homepage"
	LabelDescription = "io.buildpacks.base.description"
	LabelRebasable   = "io.buildpacks.rebasable"
	// LabelSBOM holds the diffID of the layer with the image's SBOM files.
	LabelSBOM = "io.buildpacks.base.sbom"
)

// File is the content of a stack.toml.
type File struct {
	// ID names the stack: io.buildpacks.base.id, io.buildpacks.stack.id
	// and CNB_STACK_ID of both images. Required.
	ID string `toml:"id"`
	// Suite, Mirror, Components, Sources and Arch are the Debian archive
	// both images come from (see debian.Recipe).
	Suite      string   `toml:"suite"`
	Mirror     string   `toml:"mirror"`
	Components []string `toml:"components"`
	Sources    []string `toml:"sources"`
	Arch       string   `toml:"arch"`
	// User, Group, UID and GID are the CNB user of both images.
	User  string `toml:"user"`
	Group string `toml:"group"`
	UID   int    `toml:"uid"`
	GID   int    `toml:"gid"`
	// SourceDateEpoch fixes the images' times; 0 means the date of the
	// newest installed package.
	SourceDateEpoch int64 `toml:"source-date-epoch"`
	// Env and Labels go to both images; an image table's entries win.
	Env    map[string]string `toml:"env"`
	Labels map[string]string `toml:"labels"`
	// Build and Run are the [build] and [run] tables.
	Build Image `toml:"build"`
	Run   Image `toml:"run"`
}

// Image is a [build] or [run] table.
type Image struct {
	// Variant is mmdebstrap's base package set (default minbase).
	Variant string `toml:"variant"`
	// Packages are installed on top of the variant.
	Packages []string `toml:"packages"`
	// Remove are absolute paths or path.Match patterns dropped after
	// installation; each must match something.
	Remove []string          `toml:"remove"`
	Env    map[string]string `toml:"env"`
	Labels map[string]string `toml:"labels"`
}

// Stack is a decoded and checked stack.toml.
type Stack struct {
	// Name is the stack's directory name (stacks/<name>/stack.toml); it
	// names the images kiln makes: kiln/<name>-build and kiln/<name>-run.
	Name string
	// Path is the file the recipe came from; every error starts with it.
	Path string
	File File
}

var (
	namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	idPattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9./-]*$`)
)

// Read reads the stack recipe at path: a stack directory holding
// stack.toml, or the file itself. The stack's name is the directory's.
func Read(path string) (*Stack, error) {
	p := path
	info, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("reading stack %s: no such directory or file", path)
		}
		return nil, fmt.Errorf("reading stack %s: %w", path, err)
	}
	if info.IsDir() {
		p = filepath.Join(p, FileName)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	return Decode(filepath.Base(filepath.Dir(abs)), p, data)
}

// Decode decodes and checks the stack.toml content data. name is the
// stack's name and path the file it came from, which starts every error.
// Unknown keys are errors, as are missing or malformed entries and
// labels kiln sets itself; each error names the key.
func Decode(name, path string, data []byte) (*Stack, error) {
	s := &Stack{Name: name, Path: path}
	md, err := toml.Decode(string(data), &s.File)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) && perr.Position.Line > 0 {
			line := perr.Position.Line
			if st := perr.Position.Start; st >= 0 && st <= len(data) {
				// The decoder counts the newline ending a bad token as
				// the next line; the byte offset is exact.
				line = 1 + bytes.Count(data[:st], []byte("\n"))
			}
			return nil, fmt.Errorf("parsing %s: line %d: %s", path, line, perr.Message)
		}
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		keys := make([]string, len(undecoded))
		for i, k := range undecoded {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("%s: unknown key %s (known: id, suite, mirror, components, sources, arch, user, group, uid, gid, source-date-epoch, env, labels, and in [build] and [run]: variant, packages, remove, env, labels)", path, strings.Join(keys, ", "))
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// validate checks the entries kiln adds to what debian.Recipe checks, then
// the shared keys and each image's recipe.
func (s *Stack) validate() error {
	f := s.File
	if !namePattern.MatchString(s.Name) {
		return fmt.Errorf("stack name %q (the directory name) must be lower case letters, digits, '.', '_' and '-', as it names images", s.Name)
	}
	if f.ID == "" {
		return errors.New("id: required (for example io.kiln.stacks." + s.Name + ")")
	}
	if !idPattern.MatchString(f.ID) {
		return fmt.Errorf("id: %q may hold only letters, digits, '.', '/' and '-'", f.ID)
	}
	if f.Suite == "" {
		return errors.New("suite: required (for example bookworm)")
	}
	for _, where := range []struct {
		table  string
		labels map[string]string
	}{{"", f.Labels}, {"[build] ", f.Build.Labels}, {"[run] ", f.Run.Labels}} {
		for _, k := range slices.Sorted(maps.Keys(where.labels)) {
			v := where.labels[k]
			switch {
			case k == LabelSBOM || debian.ReservedLabel(k):
				return fmt.Errorf("%slabels: %s is set by kiln from the stack and the installed packages", where.table, k)
			case k == LabelRebasable && v != "true" && v != "false":
				return fmt.Errorf("%slabels: %s = %q: want \"true\" or \"false\"", where.table, k, v)
			case (k == LabelMaintainer || k == LabelHomepage || k == LabelDescription) && strings.TrimSpace(v) == "":
				return fmt.Errorf("%slabels: %s is empty", where.table, k)
			}
		}
	}
	for _, img := range []struct {
		table  string
		labels map[string]string
	}{{"[build]", f.Build.Labels}, {"[run]", f.Run.Labels}} {
		if f.Labels[LabelMaintainer] == "" && img.labels[LabelMaintainer] == "" {
			return fmt.Errorf("labels: %s is required (in [labels], or in %s labels)", LabelMaintainer, img.table)
		}
	}
	// The shared keys, checked once so that errors name them alone.
	shared := s.recipe(Image{}, debian.KindBuild)
	if err := shared.Validate(); err != nil {
		return recipeError("", err)
	}
	build, run := s.Recipes()
	if err := build.Validate(); err != nil {
		return recipeError("[build] ", err)
	}
	if err := run.Validate(); err != nil {
		return recipeError("[run] ", err)
	}
	return nil
}

// recipeError rewords a debian.Recipe validation error ("recipe KEY: ...")
// to name the stack.toml entry ("[run] KEY: ...").
func recipeError(table string, err error) error {
	return errors.New(table + strings.TrimPrefix(err.Error(), "recipe "))
}

// Recipes returns the recipes of the build image and the run image: the
// shared keys plus each table, with the image table's env and labels
// over the shared ones and io.buildpacks.rebasable "true" unless set.
func (s *Stack) Recipes() (build, run debian.Recipe) {
	return s.recipe(s.File.Build, debian.KindBuild), s.recipe(s.File.Run, debian.KindRun)
}

func (s *Stack) recipe(img Image, kind string) debian.Recipe {
	f := s.File
	env := maps.Clone(f.Env)
	if env == nil && len(img.Env) > 0 {
		env = map[string]string{}
	}
	maps.Copy(env, img.Env)
	labels := map[string]string{LabelRebasable: "true"}
	maps.Copy(labels, f.Labels)
	maps.Copy(labels, img.Labels)
	return debian.Recipe{
		Suite:           f.Suite,
		Mirror:          f.Mirror,
		Components:      slices.Clone(f.Components),
		Sources:         slices.Clone(f.Sources),
		Variant:         img.Variant,
		Packages:        slices.Clone(img.Packages),
		Arch:            f.Arch,
		Kind:            kind,
		User:            f.User,
		Group:           f.Group,
		UID:             f.UID,
		GID:             f.GID,
		StackID:         f.ID,
		Env:             env,
		Labels:          labels,
		Remove:          slices.Clone(img.Remove),
		SourceDateEpoch: f.SourceDateEpoch,
	}
}

// BuildImageName and RunImageName are the local-store names kiln gives
// the stack's images by default.
func (s *Stack) BuildImageName() string { return "kiln/" + s.Name + "-build:latest" }

// RunImageName: see BuildImageName.
func (s *Stack) RunImageName() string { return "kiln/" + s.Name + "-run:latest" }
