package sdk

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// EnvDir writes environment files into one of a layer's env directories
// (buildpack.md, §Environment Variable Modification Rules): env/ for both
// build and launch, env.build/, env.launch/ or env.launch/<process>/. The
// directory is created on first write.
type EnvDir struct {
	dir string
}

// Path returns the directory the files go to.
func (e EnvDir) Path() string { return e.dir }

// Override sets name to value (file <name>.override).
func (e EnvDir) Override(name, value string) error {
	return e.write(name, "override", value)
}

// Default sets name to value unless something earlier set it (file
// <name>.default).
func (e EnvDir) Default(name, value string) error {
	return e.write(name, "default", value)
}

// Append adds value after name's current value, separated by delim (files
// <name>.append and <name>.delim; with an empty delim the values are
// concatenated as they are).
func (e EnvDir) Append(name, value, delim string) error {
	if err := e.write(name, "append", value); err != nil {
		return err
	}
	return e.delim(name, delim)
}

// Prepend adds value before name's current value, separated by delim
// (files <name>.prepend and <name>.delim).
func (e EnvDir) Prepend(name, value, delim string) error {
	if err := e.write(name, "prepend", value); err != nil {
		return err
	}
	return e.delim(name, delim)
}

// PrependPath prepends dir to a colon-separated path variable such as
// PATH or PYTHONPATH.
func (e EnvDir) PrependPath(name, dir string) error {
	return e.Prepend(name, dir, string(os.PathListSeparator))
}

func (e EnvDir) delim(name, delim string) error {
	if delim == "" {
		return nil
	}
	return e.write(name, "delim", delim)
}

func (e EnvDir) write(name, suffix, value string) error {
	if !validEnvName(name) {
		return fmt.Errorf("environment variable name %q is not valid in an env file name", name)
	}
	if err := os.MkdirAll(e.dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", e.dir, err)
	}
	p := filepath.Join(e.dir, name+"."+suffix)
	// An unchanged file keeps its mtime, so a reused layer stays provably
	// unchanged and the exporter need not write it again.
	if old, err := os.ReadFile(p); err == nil && string(old) == value {
		return nil
	}
	if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return nil
}

// validEnvName accepts names the lifecycle can read back from a file name:
// the variable is the file name up to the first '.'.
func validEnvName(name string) bool {
	return name != "" && !strings.ContainsAny(name, "./=\x00")
}
