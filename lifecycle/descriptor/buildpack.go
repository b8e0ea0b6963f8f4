package descriptor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// BuildpackFile is the descriptor's file name inside a buildpack directory.
const BuildpackFile = "buildpack.toml"

// ErrUnsupportedAPI marks a descriptor whose api is outside the range kiln
// implements ([OldestBuildpackAPI] to [BuildpackAPI]); the platform maps it
// to exit code 12.
var ErrUnsupportedAPI = errors.New("unsupported buildpack API")

// ReservedIDs may not be used as buildpack IDs.
var ReservedIDs = []string{"app", "config", "generated", "sbom"}

// SBOMFormats maps the SBOM media types a buildpack may declare in
// sbom-formats to the file extension of its SBOM files.
var SBOMFormats = map[string]string{
	"application/vnd.cyclonedx+json": "cdx.json",
	"application/spdx+json":          "spdx.json",
	"application/vnd.syft+json":      "syft.json",
}

// Buildpack is a decoded buildpack.toml.
type Buildpack struct {
	API       string         `toml:"api"`
	Buildpack BuildpackInfo  `toml:"buildpack"`
	Order     Order          `toml:"order,omitempty"`
	Targets   []Target       `toml:"targets,omitempty"`
	Metadata  map[string]any `toml:"metadata,omitempty"`

	// Dir is the absolute buildpack directory, set by ReadBuildpack.
	Dir string `toml:"-"`
	// Kind is KindExtension for an image extension (read from
	// extension.toml, see DecodeExtension), else KindBuildpack.
	Kind Kind `toml:"-"`
}

// BuildpackInfo is the [buildpack] table.
type BuildpackInfo struct {
	ID          string    `toml:"id"`
	Name        string    `toml:"name,omitempty"`
	Version     string    `toml:"version"`
	Homepage    string    `toml:"homepage,omitempty"`
	ClearEnv    bool      `toml:"clear-env,omitempty"`
	Description string    `toml:"description,omitempty"`
	Keywords    []string  `toml:"keywords,omitempty"`
	SBOMFormats []string  `toml:"sbom-formats,omitempty"`
	ExecEnv     ExecEnvs  `toml:"exec-env,omitempty"`
	Licenses    []License `toml:"licenses,omitempty"`
}

// License is one [[buildpack.licenses]] entry.
type License struct {
	Type string `toml:"type,omitempty"`
	URI  string `toml:"uri,omitempty"`
}

// ExecEnvs lists execution environments ("production", "test", ...).
// It decodes both spellings found in the wild: a string array
// (exec-env = ["test"]) and the spec's array of tables
// ([[buildpack.exec-env]] name = "test"). It encodes as a string array.
type ExecEnvs []string

// UnmarshalTOML implements toml.Unmarshaler.
func (e *ExecEnvs) UnmarshalTOML(v any) error {
	list, ok := v.([]any)
	if !ok {
		if m, isMap := v.([]map[string]any); isMap {
			for _, item := range m {
				list = append(list, item)
			}
		} else {
			return fmt.Errorf("exec-env: want an array, got %T", v)
		}
	}
	out := make(ExecEnvs, 0, len(list))
	for _, item := range list {
		switch it := item.(type) {
		case string:
			out = append(out, it)
		case map[string]any:
			name, ok := it["name"].(string)
			if !ok {
				return fmt.Errorf("exec-env: table entry needs a string name")
			}
			out = append(out, name)
		default:
			return fmt.Errorf("exec-env: want strings or tables with a name, got %T", item)
		}
	}
	*e = out
	return nil
}

// Supports reports whether the list allows execution environment env. An
// empty list, or one holding "*", allows every environment.
func (e ExecEnvs) Supports(env string) bool {
	if len(e) == 0 {
		return true
	}
	for _, x := range e {
		if x == "*" || x == env {
			return true
		}
	}
	return false
}

// IsComposite reports whether the buildpack is a composite one (it has an
// order instead of bin/detect and bin/build).
func (b *Buildpack) IsComposite() bool { return len(b.Order) > 0 }

// Ref returns "id@version".
func (b *Buildpack) Ref() string { return b.Buildpack.ID + "@" + b.Buildpack.Version }

// ParsedAPI returns the parsed api; DecodeBuildpack has already checked it.
func (b *Buildpack) ParsedAPI() API {
	a, _ := ParseAPI(b.API)
	return a
}

// legacy and alias spellings accepted on decode.
type rawBuildpack struct {
	API       string         `toml:"api"`
	Buildpack BuildpackInfo  `toml:"buildpack"`
	Order     Order          `toml:"order"`
	Targets   []rawTarget    `toml:"targets"`
	Stacks    []rawStack     `toml:"stacks"`
	Metadata  map[string]any `toml:"metadata"`
}

type rawTarget struct {
	OS            string   `toml:"os"`
	Arch          string   `toml:"arch"`
	Variant       string   `toml:"variant"`
	ArchVariant   string   `toml:"arch-variant"`
	Distros       []Distro `toml:"distros"`
	Distributions []Distro `toml:"distributions"`
}

type rawStack struct {
	ID     string   `toml:"id"`
	Mixins []string `toml:"mixins"`
}

// The one stack the spec translates to a target.
const bionicStackID = "io.buildpacks.stacks.bionic"

// DecodeBuildpack decodes and validates the content of a buildpack.toml.
// name identifies the file in errors. Legacy [[stacks]] are translated to
// [[targets]]: io.buildpacks.stacks.bionic becomes linux/amd64 ubuntu
// 18.04 and "*" becomes a target matching anything; other stack IDs add
// nothing. Checks that need the directory (bin/ versus order, inferred
// targets) are done by ReadBuildpack.
func DecodeBuildpack(name string, data []byte) (*Buildpack, error) {
	var raw rawBuildpack
	if _, err := decodeTOML(name, data, &raw); err != nil {
		return nil, err
	}
	bp := &Buildpack{
		API:       raw.API,
		Buildpack: raw.Buildpack,
		Order:     raw.Order,
		Metadata:  raw.Metadata,
	}
	for _, t := range raw.Targets {
		nt := Target{OS: t.OS, Arch: t.Arch, Variant: t.Variant, Distros: t.Distros}
		if nt.Variant == "" {
			nt.Variant = t.ArchVariant
		}
		if len(nt.Distros) == 0 {
			nt.Distros = t.Distributions
		}
		bp.Targets = append(bp.Targets, nt)
	}
	if len(raw.Stacks) > 0 && len(raw.Order) > 0 {
		return nil, fmt.Errorf("invalid %s: a buildpack with [[order]] must not declare [[stacks]]", name)
	}
	if len(bp.Targets) == 0 {
		for _, s := range raw.Stacks {
			switch s.ID {
			case bionicStackID:
				bp.Targets = append(bp.Targets, Target{OS: "linux", Arch: "amd64", Distros: []Distro{{Name: "ubuntu", Version: "18.04"}}})
			case "*":
				bp.Targets = append(bp.Targets, Target{})
			}
		}
	}
	if err := bp.Validate(); err != nil {
		return nil, fmt.Errorf("invalid %s: %w", name, err)
	}
	return bp, nil
}

// Validate checks the rules that need no file system: api parseable and
// supported, id present, well-formed and not reserved, version present,
// order entries naming an id, known SBOM formats, exec-env names.
func (b *Buildpack) Validate() error {
	if b.API == "" {
		return fmt.Errorf("api is missing")
	}
	a, err := ParseAPI(b.API)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	if a.Compare(OldestBuildpackAPI) < 0 || a.Compare(BuildpackAPI) > 0 {
		return fmt.Errorf("api %s: %w (kiln supports %s to %s)", b.API, ErrUnsupportedAPI, OldestBuildpackAPI, BuildpackAPI)
	}
	if err := ValidateID(b.Buildpack.ID); err != nil {
		return fmt.Errorf("[buildpack] %w", err)
	}
	if err := ValidateVersion(b.Buildpack.Version); err != nil {
		return fmt.Errorf("[buildpack] %w", err)
	}
	for _, f := range b.Buildpack.SBOMFormats {
		if _, ok := SBOMFormats[f]; !ok {
			return fmt.Errorf("[buildpack] sbom-formats: unsupported media type %q", f)
		}
	}
	for _, e := range b.Buildpack.ExecEnv {
		if err := validateExecEnv(e); err != nil {
			return fmt.Errorf("[buildpack] %w", err)
		}
	}
	if err := b.Order.validate(); err != nil {
		return err
	}
	return nil
}

// ValidateID checks a buildpack ID: present, made of letters, digits, '.',
// '/' and '-', and not one of ReservedIDs.
func ValidateID(id string) error {
	if id == "" {
		return fmt.Errorf("id is missing")
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '/' || r == '-'
		if !ok {
			return fmt.Errorf("id %q: character %q is not allowed (letters, digits, '.', '/', '-')", id, r)
		}
	}
	if len(id) > MaxIDLength {
		return fmt.Errorf("id %.64q...: longer than %d characters", id, MaxIDLength)
	}
	// The id names directories (with '/' escaped): no part of it may be
	// "." or "..", nor empty.
	for _, part := range strings.Split(id, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("id %q: %q is not allowed as a part of an id", id, part)
		}
	}
	if e := EscapeID(id); e == "." || e == ".." || strings.HasPrefix(e, ".") {
		return fmt.Errorf("id %q: must not start with '.'", id)
	}
	for _, r := range ReservedIDs {
		if strings.EqualFold(id, r) {
			return fmt.Errorf("id %q is reserved", id)
		}
	}
	return nil
}

// MaxIDLength and MaxVersionLength bound ids and versions, which name
// directories.
const (
	MaxIDLength      = 255
	MaxVersionLength = 128
)

// ValidateVersion checks a buildpack version, which names a directory:
// present, made of letters, digits, '.', '+', '-', '_' and '~' (every
// semantic version and the looser ones builders use), not starting with
// '.', without "..".
func ValidateVersion(v string) error {
	if v == "" {
		return fmt.Errorf("version is missing")
	}
	if len(v) > MaxVersionLength {
		return fmt.Errorf("version %.64q...: longer than %d characters", v, MaxVersionLength)
	}
	for _, r := range v {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".+-_~", r)
		if !ok {
			return fmt.Errorf("version %q: character %q is not allowed (letters, digits, '.', '+', '-', '_', '~')", v, r)
		}
	}
	if strings.HasPrefix(v, ".") || strings.Contains(v, "..") {
		return fmt.Errorf("version %q: must not start with '.' or contain \"..\"", v)
	}
	return nil
}

func validateExecEnv(e string) error {
	if e == "" {
		return fmt.Errorf("exec-env: empty name")
	}
	if strings.Contains(e, "/") {
		return fmt.Errorf("exec-env %q: '/' is reserved", e)
	}
	return nil
}

// ReadBuildpack reads <dir>/buildpack.toml, validates it and sets Dir to
// the absolute dir. Beyond DecodeBuildpack it checks that a composite
// buildpack (one with [[order]]) has no bin/detect or bin/build and that a
// component buildpack has both, and, when no [[targets]] are declared,
// infers the spec's target: os "linux" when bin/build exists, os "windows"
// when bin/build.bat or bin/build.exe exists.
func ReadBuildpack(dir string) (*Buildpack, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("reading buildpack in %s: %w", dir, err)
	}
	path := filepath.Join(abs, BuildpackFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	bp, err := DecodeBuildpack(path, data)
	if err != nil {
		return nil, err
	}
	bp.Dir = abs
	hasDetect := isFile(filepath.Join(abs, "bin", "detect"))
	hasBuild := isFile(filepath.Join(abs, "bin", "build"))
	hasWinBuild := isFile(filepath.Join(abs, "bin", "build.bat")) || isFile(filepath.Join(abs, "bin", "build.exe"))
	hasWinDetect := isFile(filepath.Join(abs, "bin", "detect.bat")) || isFile(filepath.Join(abs, "bin", "detect.exe"))
	switch {
	case bp.IsComposite() && (hasDetect || hasBuild || hasWinDetect || hasWinBuild):
		return nil, fmt.Errorf("invalid %s: a composite buildpack ([[order]]) must not contain bin/detect or bin/build", path)
	case !bp.IsComposite() && !(hasDetect && hasBuild) && !(hasWinDetect && hasWinBuild):
		return nil, fmt.Errorf("invalid %s: a component buildpack needs bin/detect and bin/build (or an [[order]] to be composite)", path)
	}
	if len(bp.Targets) == 0 {
		switch {
		case hasBuild:
			bp.Targets = []Target{{OS: "linux"}}
		case hasWinBuild:
			bp.Targets = []Target{{OS: "windows"}}
		}
	}
	return bp, nil
}

// WriteBuildpack writes b as <dir>/buildpack.toml.
func WriteBuildpack(dir string, b *Buildpack) error {
	return WriteTOMLFile(filepath.Join(dir, BuildpackFile), b)
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}
