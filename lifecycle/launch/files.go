package launch

import (
	"errors"
	"fmt"
	"io/fs"
	"regexp"

	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// Label is an image label contributed by a buildpack.
type Label struct {
	Key   string `toml:"key"`
	Value string `toml:"value"`
}

// Slice is a set of path globs inside the app directory that the exporter
// puts in a layer of its own.
type Slice struct {
	Paths []string `toml:"paths"`
}

// Argv is a command as a list of words. When decoding, a plain string (the
// form of Buildpack API 0.8 and earlier) becomes a one-word list.
type Argv []string

// UnmarshalTOML accepts a string or an array of strings.
func (a *Argv) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		*a = Argv{v}
		return nil
	case []any:
		out := make(Argv, 0, len(v))
		for i, w := range v {
			s, ok := w.(string)
			if !ok {
				return fmt.Errorf("command[%d] is a %T, not a string", i, w)
			}
			out = append(out, s)
		}
		*a = out
		return nil
	}
	return fmt.Errorf("command is a %T, not an array of strings", v)
}

// Process is a process type declared in launch.toml.
type Process struct {
	Type    string `toml:"type"`
	Command Argv   `toml:"command"`
	// Args are default arguments, replaced by the user's (Buildpack API
	// 0.9 and later).
	Args []string `toml:"args,omitempty"`
	// Direct is only meaningful for Buildpack API 0.8 and earlier, where a
	// process with direct = false runs through a shell. From 0.9 on every
	// process is direct and the key is ignored.
	Direct     *bool    `toml:"direct,omitempty"`
	Default    bool     `toml:"default,omitempty"`
	WorkingDir string   `toml:"working-dir,omitempty"`
	ExecEnv    []string `toml:"exec-env,omitempty"`
}

// Launch is launch.toml.
type Launch struct {
	Labels    []Label   `toml:"labels,omitempty"`
	Processes []Process `toml:"processes,omitempty"`
	Slices    []Slice   `toml:"slices,omitempty"`
}

// Unmet names a Buildpack Plan entry a buildpack did not satisfy.
type Unmet struct {
	Name string `toml:"name"`
}

// Build is build.toml.
type Build struct {
	Unmet []Unmet `toml:"unmet,omitempty"`
}

// Store is store.toml: buildpack data persisted through the app image.
type Store struct {
	Metadata map[string]any `toml:"metadata,omitempty"`
}

var processTypeRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// ValidProcessType reports whether t is a valid process type: letters,
// digits, ".", "_" and "-" only. "." and ".." are refused too, since a
// process type names a file (/cnb/process/<type>, env.launch/<type>/).
func ValidProcessType(t string) bool {
	return processTypeRE.MatchString(t) && t != "." && t != ".."
}

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

// Validate checks the rules ReadLaunch enforces.
func (l Launch) Validate() error {
	types := map[string]bool{}
	defaults := 0
	for i, p := range l.Processes {
		if !ValidProcessType(p.Type) {
			return fmt.Errorf("process %d: type %q must match [A-Za-z0-9._-]+", i, p.Type)
		}
		if types[p.Type] {
			return fmt.Errorf("process type %q is declared twice", p.Type)
		}
		types[p.Type] = true
		if len(p.Command) == 0 || p.Command[0] == "" {
			return fmt.Errorf("process %q: command is empty", p.Type)
		}
		if p.Default {
			defaults++
		}
	}
	if defaults > 1 {
		return fmt.Errorf("%d processes are marked default; a buildpack may mark only one", defaults)
	}
	keys := map[string]bool{}
	for i, lb := range l.Labels {
		if lb.Key == "" {
			return fmt.Errorf("label %d: key is empty", i)
		}
		if keys[lb.Key] {
			return fmt.Errorf("label %q is declared twice", lb.Key)
		}
		keys[lb.Key] = true
	}
	return nil
}

// WriteLaunch writes l to path.
func WriteLaunch(path string, l Launch) error { return descriptor.WriteTOMLFile(path, l) }

// ReadBuild reads build.toml at path. A missing file is an empty Build. An
// unmet entry without a name is an error.
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
