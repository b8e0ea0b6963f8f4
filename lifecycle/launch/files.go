package launch

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/kiln-build/kiln/internal/cnbtoml"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// The launch.toml and build.toml schema is shared with the buildpacks'
// SDK through internal/cnbtoml.
type (
	// Label is an image label contributed by a buildpack.
	Label = cnbtoml.Label
	// Slice is a set of path globs inside the app directory that the
	// exporter puts in a layer of its own.
	Slice = cnbtoml.Slice
	// Argv is a command as a list of words; a plain string decodes as
	// one word (Buildpack API 0.8 and earlier).
	Argv = cnbtoml.Argv
	// Process is a process type declared in launch.toml.
	Process = cnbtoml.Process
	// Launch is launch.toml.
	Launch = cnbtoml.Launch
	// Unmet names a Buildpack Plan entry a buildpack did not satisfy.
	Unmet = cnbtoml.Unmet
	// Build is build.toml.
	Build = cnbtoml.Build
	// BOMEntry is a legacy [[bom]] entry of build.toml.
	BOMEntry = cnbtoml.BOMEntry
)

// Store is store.toml: buildpack data persisted through the app image.
type Store struct {
	Metadata map[string]any `toml:"metadata,omitempty"`
}

// ValidProcessType reports whether t is a valid process type.
func ValidProcessType(t string) bool { return cnbtoml.ValidProcessType(t) }

// ReadLaunch reads and validates launch.toml at path. A missing file is an
// empty Launch. Errors: a process type that is not valid, an empty command,
// two processes of one type, more than one default process, and two labels
// with one key.
func ReadLaunch(path string) (Launch, error) {
	var l Launch
	if _, err := descriptor.ReadTOMLFile(path, &l); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Launch{}, nil
		}
		return Launch{}, err
	}
	if err := l.Validate(); err != nil {
		return Launch{}, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

// WriteLaunch writes l to path.
func WriteLaunch(path string, l Launch) error { return descriptor.WriteTOMLFile(path, l) }

// ReadBuild reads build.toml at path. A missing file is an empty Build. An
// unmet entry without a name is an error, and so is a legacy [[bom]] entry
// with a top-level version (as the reference lifecycle says: it goes in
// metadata.version).
func ReadBuild(path string) (Build, error) {
	var b Build
	if _, err := descriptor.ReadTOMLFile(path, &b); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Build{}, nil
		}
		return Build{}, err
	}
	for i, u := range b.Unmet {
		if u.Name == "" {
			return Build{}, fmt.Errorf("%s: unmet entry %d has no name", path, i)
		}
	}
	for _, e := range b.BOM {
		if e.Version != "" {
			return Build{}, fmt.Errorf("%s: bom entry %q has a top-level version; put it in metadata.version", path, e.Name)
		}
	}
	return b, nil
}

// WriteBuild writes b to path.
func WriteBuild(path string, b Build) error { return descriptor.WriteTOMLFile(path, b) }

// ReadStore reads store.toml at path. A missing file is an empty Store.
func ReadStore(path string) (Store, error) {
	var s Store
	if _, err := descriptor.ReadTOMLFile(path, &s); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Store{}, nil
		}
		return Store{}, err
	}
	return s, nil
}

// WriteStore writes s to path.
func WriteStore(path string, s Store) error { return descriptor.WriteTOMLFile(path, s) }
