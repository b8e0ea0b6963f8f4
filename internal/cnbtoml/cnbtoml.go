package cnbtoml

import (
	"fmt"
	"regexp"
)

// Label is a [[labels]] entry of launch.toml: an image label.
type Label struct {
	Key   string `toml:"key"`
	Value string `toml:"value"`
}

// Slice is a [[slices]] entry of launch.toml: path globs inside the app
// directory that the exporter puts in a layer of their own.
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

// Process is a [[processes]] entry of launch.toml. Since Buildpack API 0.9
// every process runs directly: Command[0] is executed with Command[1:] and
// then Args, which a user's arguments replace.
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

// Unmet is an [[unmet]] entry of build.toml: a Buildpack Plan entry the
// buildpack did not satisfy, which goes to the next buildpack providing it.
type Unmet struct {
	Name string `toml:"name"`
}

// BOMEntry is a [[bom]] entry of build.toml: the legacy, unstructured
// bill of materials (deprecated since Buildpack API 0.7, still read).
// Version is only there to be refused: a version belongs in metadata.
type BOMEntry struct {
	Name     string         `toml:"name" json:"name"`
	Version  string         `toml:"version,omitempty" json:"-"`
	Metadata map[string]any `toml:"metadata,omitempty" json:"metadata"`
}

// Build is build.toml.
type Build struct {
	Unmet []Unmet `toml:"unmet,omitempty"`
	// BOM is the legacy build bill of materials.
	BOM []BOMEntry `toml:"bom,omitempty"`
}

var processTypeRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// ValidProcessType reports whether t is a valid process type: letters,
// digits, ".", "_" and "-" only. "." and ".." are refused too, since a
// process type names a file (/cnb/process/<type>, env.launch/<type>/).
func ValidProcessType(t string) bool {
	return processTypeRE.MatchString(t) && t != "." && t != ".."
}

// CheckProcess checks process i of a list: a valid type not among seen,
// which then holds it, and a non-empty command. twice words the error of a
// repeated type ("is declared twice").
func CheckProcess(i int, typ string, command []string, seen map[string]bool, twice string) error {
	if !ValidProcessType(typ) {
		return fmt.Errorf("process %d: type %q must match [A-Za-z0-9._-]+", i, typ)
	}
	if seen[typ] {
		return fmt.Errorf("process type %q %s", typ, twice)
	}
	seen[typ] = true
	if len(command) == 0 || command[0] == "" {
		return fmt.Errorf("process %q: command is empty", typ)
	}
	return nil
}

// AddProcess adds p, replacing an earlier process of the same type. When
// p is the default, no other process stays default.
func (l *Launch) AddProcess(p Process) {
	out := l.Processes[:0]
	for _, q := range l.Processes {
		if q.Type == p.Type {
			continue
		}
		if p.Default {
			q.Default = false
		}
		out = append(out, q)
	}
	l.Processes = append(out, p)
}

// Empty reports whether there is nothing to write.
func (l Launch) Empty() bool {
	return len(l.Labels) == 0 && len(l.Processes) == 0 && len(l.Slices) == 0
}

// Validate checks what the spec requires of launch.toml: valid and
// distinct process types, a command for each process, at most one default
// process, and non-empty, distinct label keys.
func (l Launch) Validate() error {
	types := map[string]bool{}
	defaults := 0
	for i, p := range l.Processes {
		if err := CheckProcess(i, p.Type, p.Command, types, "is declared twice"); err != nil {
			return err
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
