package env

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// Action is an environment modification rule.
type Action int

// The modification rules. Override, Append, Prepend and Default are the
// buildpack spec's rules; PrependPath is the platform's rule for user
// variables: prepend with the path list separator for path-like variables,
// override for the others.
const (
	Override Action = iota + 1
	Append
	Prepend
	Default
	PrependPath
)

// String returns the suffix-style name of a.
func (a Action) String() string {
	switch a {
	case Override:
		return "override"
	case Append:
		return "append"
	case Prepend:
		return "prepend"
	case Default:
		return "default"
	case PrependPath:
		return "prepend-path"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// suffixes maps an env file's suffix to its action. "delim" is handled apart.
var suffixes = map[string]Action{
	"override": Override,
	"append":   Append,
	"prepend":  Prepend,
	"default":  Default,
}

// envFile is one parsed file of an env directory.
type envFile struct {
	name   string // variable name
	suffix string // "" when the file has no suffix
	value  string
}

// varFile is one file of an env or platform env directory.
type varFile struct {
	path, name, value string
}

// readVarFiles reads the regular files of dir in name order. A missing dir
// yields nothing. Hidden files (such as .gitkeep) name no variable and are
// skipped, as are sub-directories (such as env.launch/<process>/); symbolic
// links are followed. what names the kind of directory in errors.
func readVarFiles(dir, what string) ([]varFile, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s directory %s: %w", what, dir, err)
	}
	var files []varFile
	for _, ent := range entries { // os.ReadDir sorts by name
		if strings.HasPrefix(ent.Name(), ".") {
			continue
		}
		p := filepath.Join(dir, ent.Name())
		b, ok, err := readVarFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading %s file %s: %w", what, p, err)
		}
		if !ok {
			continue
		}
		if strings.IndexByte(string(b), 0) >= 0 {
			return nil, fmt.Errorf("%s file %s: value contains a NUL byte", what, p)
		}
		files = append(files, varFile{path: p, name: ent.Name(), value: string(b)})
	}
	return files, nil
}

// MaxFileSize bounds one env file: a value is a path list or a setting,
// and a build's multi-gigabyte file must not be read into memory.
const MaxFileSize = 4 << 20

// readVarFile reads the env file p when it is a regular file (following
// a link, as the spec allows, but never waiting on a FIFO); ok is false
// for anything else, which names no variable. A dangling link is an
// error, as any file that cannot be read.
func readVarFile(p string) (b []byte, ok bool, err error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, false, err // a dangling link too: the file cannot be read
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, false, err
	}
	if !fi.Mode().IsRegular() {
		return nil, false, nil
	}
	if fi.Size() > MaxFileSize {
		return nil, false, fmt.Errorf("%d bytes: an env file holds at most %d", fi.Size(), MaxFileSize)
	}
	b, err = io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, false, err
	}
	if len(b) > MaxFileSize {
		return nil, false, fmt.Errorf("over %d bytes: an env file holds at most %d", MaxFileSize, MaxFileSize)
	}
	return b, true, nil
}

// readEnvDir reads the files of the env directory dir (see readVarFiles),
// splitting each name into variable name and suffix at the first ".".
func readEnvDir(dir string) ([]envFile, error) {
	vfs, err := readVarFiles(dir, "env")
	if err != nil {
		return nil, err
	}
	files := make([]envFile, 0, len(vfs))
	for _, f := range vfs {
		name, suffix, _ := strings.Cut(f.name, ".")
		if !ValidName(name) {
			return nil, fmt.Errorf("env file %s: %q is not a valid variable name", f.path, name)
		}
		files = append(files, envFile{name: name, suffix: suffix, value: f.value})
	}
	return files, nil
}

// ApplyEnvDirs applies the env directories of ONE layer, in the order given
// (for a build: env/ then env.build/; for launch: env/, env.launch/,
// env.launch/<process>/). Each file is named NAME or NAME.<suffix>, where
// the variable name is everything up to the first "."; suffixes are
// override, append, prepend, default and delim, and files with any other
// suffix are ignored. A file without a suffix takes the action unsuffixed
// (Override for buildpack layers, Default for the build-config directory).
// A NAME.delim file supplies the separator for NAME's appends and prepends
// within the same layer; a delim in a later directory of the layer replaces
// one from an earlier directory. Without a delim, values are concatenated
// with no separator. Missing directories are skipped. File contents are used
// as they are, never trimmed or evaluated.
func (e *Env) ApplyEnvDirs(unsuffixed Action, dirs ...string) error {
	delims := map[string]string{}
	for _, dir := range dirs {
		files, err := readEnvDir(dir)
		if err != nil {
			return err
		}
		for _, f := range files {
			if f.suffix == "delim" {
				delims[f.name] = f.value
			}
		}
		for _, f := range files {
			var a Action
			switch {
			case f.suffix == "":
				a = unsuffixed
			case f.suffix == "delim":
				continue
			default:
				var ok bool
				if a, ok = suffixes[f.suffix]; !ok {
					continue
				}
			}
			e.Modify(f.name, a, f.value, delims[f.name])
		}
	}
	return nil
}

// ApplyPlatformDir applies the user-provided variables in dir (normally
// <platform>/env/): each regular file's whole name is the variable name and
// its contents the value; path-like variables are prepended with the path
// list separator, the others overridden. A missing dir is not an error.
// Buildpacks with clear-env = true must not get these variables: the caller
// skips this step for them.
func (e *Env) ApplyPlatformDir(dir string) error {
	files, err := readVarFiles(dir, "platform env")
	if err != nil {
		return err
	}
	for _, f := range files {
		if !ValidName(f.name) {
			return fmt.Errorf("platform env file %s: %q is not a valid variable name", f.path, f.name)
		}
		e.Modify(f.name, PrependPath, f.value, "")
	}
	return nil
}

// Phase selects the build-time or launch-time rules.
type Phase int

// The phases.
const (
	Build Phase = iota
	Launch
)

// rootDir ties a layer sub-directory to the variables it feeds.
type rootDir struct {
	dir  string
	vars []string
}

var buildRoots = []rootDir{
	{"bin", []string{"PATH"}},
	{"lib", []string{"LD_LIBRARY_PATH", "LIBRARY_PATH"}},
	{"include", []string{"CPATH"}},
	{"pkgconfig", []string{"PKG_CONFIG_PATH"}},
}

var launchRoots = []rootDir{
	{"bin", []string{"PATH"}},
	{"lib", []string{"LD_LIBRARY_PATH"}},
}

// PrependRootDirs prepends the existing root directories (bin, lib, ...) of
// the given layers to the variables they feed in phase. The layers belong to
// one buildpack; they are sorted by name so that, in the result, they appear
// in ascending order ahead of whatever the variables held before (which is
// how a later buildpack's layers come to precede an earlier one's).
func (e *Env) PrependRootDirs(phase Phase, layerDirs []string) error {
	roots := buildRoots
	if phase == Launch {
		roots = launchRoots
	}
	dirs := sortedByBase(layerDirs)
	for _, r := range roots {
		var found []string
		for _, l := range dirs {
			p := filepath.Join(l, r.dir)
			fi, err := os.Stat(p)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return fmt.Errorf("reading layer directory %s: %w", p, err)
			}
			if fi.IsDir() {
				found = append(found, p)
			}
		}
		if len(found) == 0 {
			continue
		}
		joined := strings.Join(found, string(os.PathListSeparator))
		for _, v := range r.vars {
			e.Modify(v, Prepend, joined, string(os.PathListSeparator))
		}
	}
	return nil
}

// AddBuildpackLayers applies all of one buildpack's layers for phase: first
// their root directories (see PrependRootDirs), then, layer by layer in name
// order, env/ followed by env.build/ (Build) or by env.launch/ and
// env.launch/<process>/ (Launch; process may be empty). The caller chooses
// which layers qualify (build = true at build time, launch = true at
// launch) and calls this once per buildpack in group order.
func (e *Env) AddBuildpackLayers(phase Phase, process string, layerDirs []string) error {
	if err := e.PrependRootDirs(phase, layerDirs); err != nil {
		return err
	}
	for _, l := range sortedByBase(layerDirs) {
		dirs := []string{filepath.Join(l, "env")}
		if phase == Build {
			dirs = append(dirs, filepath.Join(l, "env.build"))
		} else {
			dirs = append(dirs, filepath.Join(l, "env.launch"))
			if process != "" {
				dirs = append(dirs, filepath.Join(l, "env.launch", process))
			}
		}
		if err := e.ApplyEnvDirs(Override, dirs...); err != nil {
			return err
		}
	}
	return nil
}

func sortedByBase(dirs []string) []string {
	out := append([]string(nil), dirs...)
	sort.SliceStable(out, func(i, j int) bool { return filepath.Base(out[i]) < filepath.Base(out[j]) })
	return out
}
