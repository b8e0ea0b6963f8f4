package sdk

import (
	"bytes"
	"fmt"
	"os"
	"regexp"

	"github.com/BurntSushi/toml"
)

// Process is a [[processes]] entry of launch.toml. Since Buildpack API 0.9
// every process runs directly: Command[0] is executed with Command[1:] and
// then Args, which a user's arguments replace.
type Process struct {
	Type       string   `toml:"type"`
	Command    []string `toml:"command"`
	Args       []string `toml:"args,omitempty"`
	Default    bool     `toml:"default,omitempty"`
	WorkingDir string   `toml:"working-dir,omitempty"`
}

// Label is a [[labels]] entry of launch.toml: an image label.
type Label struct {
	Key   string `toml:"key"`
	Value string `toml:"value"`
}

// Slice is a [[slices]] entry of launch.toml: glob patterns of app files
// that go into a layer of their own.
type Slice struct {
	Paths []string `toml:"paths"`
}

// Launch is the content of launch.toml.
type Launch struct {
	Labels    []Label   `toml:"labels,omitempty"`
	Processes []Process `toml:"processes,omitempty"`
	Slices    []Slice   `toml:"slices,omitempty"`
}

// processTypeRE is the spec's pattern for process types.
var processTypeRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// ValidProcessType reports whether t may name a process.
func ValidProcessType(t string) bool { return processTypeRE.MatchString(t) }

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

func (l Launch) validate() error {
	defaults := 0
	seen := map[string]bool{}
	for _, p := range l.Processes {
		if !ValidProcessType(p.Type) {
			return fmt.Errorf("process type %q: only letters, digits, '.', '_' and '-' are allowed", p.Type)
		}
		if seen[p.Type] {
			return fmt.Errorf("process type %q is defined twice", p.Type)
		}
		seen[p.Type] = true
		if len(p.Command) == 0 || p.Command[0] == "" {
			return fmt.Errorf("process %q has no command", p.Type)
		}
		if p.Default {
			defaults++
		}
	}
	if defaults > 1 {
		return fmt.Errorf("%d processes are marked default; at most one may be", defaults)
	}
	for _, lb := range l.Labels {
		if lb.Key == "" {
			return fmt.Errorf("a label has an empty key")
		}
	}
	return nil
}

// Build is the content of build.toml: plan entries this buildpack did not
// satisfy, which go to the next buildpack that provides them.
type Build struct {
	Unmet []Unmet `toml:"unmet,omitempty"`
}

// Unmet is an [[unmet]] entry of build.toml.
type Unmet struct {
	Name string `toml:"name"`
}

func writeTOMLFile(path string, v any) error {
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(v); err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
