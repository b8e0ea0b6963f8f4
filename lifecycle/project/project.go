package project

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/BurntSushi/toml"
)

// FileName is the descriptor's default name in the project root.
const FileName = "project.toml"

// maxSize bounds the descriptor read: it is outside input.
const maxSize = 1 << 20

// Descriptor is a project.toml, whatever its schema.
type Descriptor struct {
	// Path is the file read; Dir is the project root that relative
	// buildpack URIs are resolved against (the file's directory).
	Path, Dir string
	// SchemaVersion is "0.1" or "0.2".
	SchemaVersion string
	Project       Info
	// Metadata is the free-form [_.metadata] (0.1: [metadata]) table.
	Metadata map[string]any
	// Builder is the builder image the project asks for, if any.
	Builder string
	// Include and Exclude are gitignore-style patterns (at most one of
	// the two lists is set).
	Include, Exclude []string
	// Group replaces the builder's order with one group; Pre and Post
	// are added at the start and end of every group.
	Group, Pre, Post []Buildpack
	// Env is the build environment, in file order.
	Env []Env
	// Warnings name keys that were not understood.
	Warnings []string
}

// Info is the project's own description ([_] or [project]).
type Info struct {
	ID               string    `toml:"id"`
	Name             string    `toml:"name"`
	Version          string    `toml:"version"`
	Authors          []string  `toml:"authors"`
	DocumentationURL string    `toml:"documentation-url"`
	SourceURL        string    `toml:"source-url"`
	Licenses         []License `toml:"licenses"`
}

// License is one [[_.licenses]] entry.
type License struct {
	Type string `toml:"type"`
	URI  string `toml:"uri"`
}

// Buildpack is one entry of a group.
type Buildpack struct {
	ID      string  `toml:"id"`
	Version string  `toml:"version"`
	URI     string  `toml:"uri"`
	Script  *Script `toml:"script"`
}

// Script is an inline buildpack's build script.
type Script struct {
	API    string `toml:"api"`
	Shell  string `toml:"shell"`
	Inline string `toml:"inline"`
}

// Env is one build-time environment variable.
type Env struct {
	Name  string `toml:"name"`
	Value string `toml:"value"`
}

type group struct {
	Group []Buildpack `toml:"group"`
}

type ioBuildpacks struct {
	Builder string      `toml:"builder"`
	Include []string    `toml:"include"`
	Exclude []string    `toml:"exclude"`
	Group   []Buildpack `toml:"group"`
	Pre     group       `toml:"pre"`
	Post    group       `toml:"post"`
	Build   struct {
		Env []Env `toml:"env"`
	} `toml:"build"`
}

// file02 is schema 0.2.
type file02 struct {
	Underscore struct {
		SchemaVersion string `toml:"schema-version"`
		Info
		Metadata map[string]any `toml:"metadata"`
	} `toml:"_"`
	IO struct {
		Buildpacks *ioBuildpacks `toml:"buildpacks"`
	} `toml:"io"`
}

// file01 is schema 0.1.
type file01 struct {
	Project Info `toml:"project"`
	Build   struct {
		Builder    string      `toml:"builder"`
		Include    []string    `toml:"include"`
		Exclude    []string    `toml:"exclude"`
		Buildpacks []Buildpack `toml:"buildpacks"`
		Env        []Env       `toml:"env"`
	} `toml:"build"`
	Metadata map[string]any `toml:"metadata"`
}

// ErrNotExist is returned (wrapped) by Read when there is no file.
var ErrNotExist = os.ErrNotExist

// Read reads and checks the descriptor at path.
func Read(path string) (*Descriptor, error) {
	// O_NONBLOCK: a FIFO (or a link to one) is refused below, not waited on.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("reading project descriptor: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, fmt.Errorf("reading project descriptor %s: %w", path, err)
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("project descriptor %s is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading project descriptor %s: %w", path, err)
	}
	if len(data) > maxSize {
		return nil, fmt.Errorf("project descriptor %s is larger than %d bytes", path, maxSize)
	}
	d, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("project descriptor %s: %w", path, err)
	}
	d.Path = path
	d.Dir = filepath.Dir(path)
	return d, nil
}

// Parse decodes and checks descriptor content (Path and Dir stay empty).
func Parse(data []byte) (*Descriptor, error) {
	var probe struct {
		Underscore *struct {
			SchemaVersion string `toml:"schema-version"`
		} `toml:"_"`
		IO struct {
			Buildpacks *toml.Primitive `toml:"buildpacks"`
		} `toml:"io"`
	}
	if _, err := toml.Decode(string(data), &probe); err != nil {
		return nil, tomlError(err)
	}
	var (
		d   *Descriptor
		err error
	)
	switch {
	case probe.Underscore != nil || probe.IO.Buildpacks != nil:
		v := "0.2"
		if probe.Underscore != nil && probe.Underscore.SchemaVersion != "" {
			v = probe.Underscore.SchemaVersion
		}
		if v != "0.2" && v != "0.2.0" {
			return nil, fmt.Errorf("[_] schema-version %q: kiln reads schema 0.1 and 0.2", v)
		}
		d, err = parse02(data)
		if err == nil && (probe.Underscore == nil || probe.Underscore.SchemaVersion == "") {
			d.Warnings = append(d.Warnings, `no [_] schema-version: read as schema 0.2`)
		}
	default:
		d, err = parse01(data)
	}
	if err != nil {
		return nil, err
	}
	if err := d.check(); err != nil {
		return nil, err
	}
	return d, nil
}

func parse02(data []byte) (*Descriptor, error) {
	var f file02
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		return nil, tomlError(err)
	}
	d := &Descriptor{SchemaVersion: "0.2", Project: f.Underscore.Info, Metadata: f.Underscore.Metadata}
	if bp := f.IO.Buildpacks; bp != nil {
		d.Builder, d.Include, d.Exclude = bp.Builder, bp.Include, bp.Exclude
		d.Group, d.Pre, d.Post, d.Env = bp.Group, bp.Pre.Group, bp.Post.Group, bp.Build.Env
	}
	d.Warnings = unknownKeys(md, "_", "io.buildpacks")
	return d, nil
}

func parse01(data []byte) (*Descriptor, error) {
	var f file01
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		return nil, tomlError(err)
	}
	d := &Descriptor{
		SchemaVersion: "0.1", Project: f.Project, Metadata: f.Metadata,
		Builder: f.Build.Builder, Include: f.Build.Include, Exclude: f.Build.Exclude,
		Group: f.Build.Buildpacks, Env: f.Build.Env,
	}
	d.Warnings = unknownKeys(md, "project", "build")
	return d, nil
}

// unknownKeys lists the undecoded keys under the given tables (others
// belong to other tools, and free-form metadata is decoded whole).
func unknownKeys(md toml.MetaData, tables ...string) []string {
	var out []string
	for _, k := range md.Undecoded() {
		s := k.String()
		for _, t := range tables {
			if s == t || strings.HasPrefix(s, t+".") {
				out = append(out, fmt.Sprintf("unknown key %s (ignored)", s))
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

func tomlError(err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("line %d: %s", pe.Position.Line, pe.Message)
	}
	return err
}
