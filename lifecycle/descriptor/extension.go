package descriptor

import (
	"fmt"
	"path/filepath"
)

// ExtensionFile is the descriptor's file name inside an image extension
// directory.
const ExtensionFile = "extension.toml"

// DefaultExtensionsDir is where a builder image keeps its image
// extensions.
const DefaultExtensionsDir = "/cnb/extensions"

// OldestExtensionAPI is the oldest Buildpack API an image extension may
// declare: extensions came with Buildpack API 0.9.
var OldestExtensionAPI = API{0, 9}

// Kind says what a module directory holds: a buildpack or an image
// extension. The zero value is KindBuildpack.
type Kind int

// The kinds of module.
const (
	KindBuildpack Kind = iota
	KindExtension
)

// String is "buildpack" or "extension".
func (k Kind) String() string {
	if k == KindExtension {
		return "extension"
	}
	return "buildpack"
}

// File is the descriptor's file name: buildpack.toml or extension.toml.
func (k Kind) File() string {
	if k == KindExtension {
		return ExtensionFile
	}
	return BuildpackFile
}

// Dir is the directory of a builder image holding modules of this kind,
// without the leading slash: cnb/buildpacks or cnb/extensions.
func (k Kind) Dir() string {
	if k == KindExtension {
		return "cnb/extensions"
	}
	return "cnb/buildpacks"
}

// rawExtension is extension.toml as written, with the keys an extension
// must not have kept to refuse them.
type rawExtension struct {
	API       string         `toml:"api"`
	Extension BuildpackInfo  `toml:"extension"`
	Targets   []rawTarget    `toml:"targets"`
	Metadata  map[string]any `toml:"metadata"`
	Order     []any          `toml:"order"`
	Buildpack map[string]any `toml:"buildpack"`
}

// DecodeExtension decodes and validates the content of an extension.toml
// (image_extension.md): its [extension] table becomes Buildpack.Buildpack
// and Kind is KindExtension. The id, version and api follow the buildpack
// rules; the api must be 0.9 or newer; an extension has no [[order]] and
// no [buildpack] table. name identifies the file in errors.
func DecodeExtension(name string, data []byte) (*Buildpack, error) {
	var raw rawExtension
	if _, err := decodeTOML(name, data, &raw); err != nil {
		return nil, err
	}
	switch {
	case len(raw.Order) > 0:
		return nil, fmt.Errorf("invalid %s: an image extension has no [[order]]", name)
	case raw.Buildpack != nil:
		return nil, fmt.Errorf("invalid %s: an image extension describes itself in [extension], not [buildpack]", name)
	}
	e := &Buildpack{API: raw.API, Buildpack: raw.Extension, Metadata: raw.Metadata, Kind: KindExtension}
	for _, t := range raw.Targets {
		nt := Target{OS: t.OS, Arch: t.Arch, Variant: t.Variant, Distros: t.Distros}
		if nt.Variant == "" {
			nt.Variant = t.ArchVariant
		}
		if len(nt.Distros) == 0 {
			nt.Distros = t.Distributions
		}
		e.Targets = append(e.Targets, nt)
	}
	if err := e.Validate(); err != nil {
		return nil, fmt.Errorf("invalid %s: %w", name, err)
	}
	if e.ParsedAPI().Compare(OldestExtensionAPI) < 0 {
		return nil, fmt.Errorf("invalid %s: api %s: %w (image extensions need %s or newer)", name, e.API, ErrUnsupportedAPI, OldestExtensionAPI)
	}
	return e, nil
}

// ReadExtension reads <dir>/extension.toml (bounded, never a FIFO),
// validates it and sets Dir to the absolute dir. bin/detect and
// bin/generate are both optional; when no [[targets]] are declared and
// either exists, the inferred target is os "linux" (as the reference
// lifecycle infers it), else the extension matches every run image.
func ReadExtension(dir string) (*Buildpack, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("reading extension in %s: %w", dir, err)
	}
	path := filepath.Join(abs, ExtensionFile)
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	e, err := DecodeExtension(path, data)
	if err != nil {
		return nil, err
	}
	e.Dir = abs
	if len(e.Targets) == 0 && (isFile(filepath.Join(abs, "bin", "detect")) || isFile(filepath.Join(abs, "bin", "generate"))) {
		e.Targets = []Target{{OS: "linux"}}
	}
	return e, nil
}

// ReadModule reads the buildpack or image extension in dir, as kind says.
func ReadModule(kind Kind, dir string) (*Buildpack, error) {
	if kind == KindExtension {
		return ReadExtension(dir)
	}
	return ReadBuildpack(dir)
}

// IsExtension reports whether b is an image extension.
func (b *Buildpack) IsExtension() bool { return b.Kind == KindExtension }
