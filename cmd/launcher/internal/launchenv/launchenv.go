package launchenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/kiln-build/kiln/internal/env"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// Layout locates the launch layers of an app image.
type Layout struct {
	// LayersDir is <layers>, normally /layers.
	LayersDir string
	// AppDir is <app>, normally /workspace: exec.d programs run in it.
	AppDir string
	// Buildpacks are the buildpack IDs in build order.
	Buildpacks []string
}

// Removed are the variables that never reach an app process.
var Removed = []string{"CNB_APP_DIR", "CNB_LAYERS_DIR", "CNB_PROCESS_TYPE"}

// removedPath are the PATH entries that never reach an app process: they
// lead back to the launcher.
var removedPath = []string{"/cnb/process", "/cnb/lifecycle"}

// ExecDError reports an exec.d program that failed or wrote bad output.
type ExecDError struct {
	Path string
	Err  error
}

func (e *ExecDError) Error() string { return e.Err.Error() }

func (e *ExecDError) Unwrap() error { return e.Err }

// Options configures Build.
type Options struct {
	// Process is the process type being launched; empty for a
	// user-provided command, which gets no process-specific files.
	Process string
	// Stdout and Stderr receive the exec.d programs' output; nil discards it.
	Stdout, Stderr io.Writer
}

// Build returns the launch environment for a process: base (the image and
// user environment) with the launcher's own variables removed, then every
// buildpack's layers applied in order, then the exec.d programs' output. An
// exec.d failure is an *ExecDError.
func Build(ctx context.Context, base []string, l Layout, opts Options) (*env.Env, error) {
	e := env.New(base)
	Clean(e)
	for _, bp := range l.Buildpacks {
		layers, err := l.LayerDirs(bp)
		if err != nil {
			return nil, err
		}
		if err := e.AddBuildpackLayers(env.Launch, opts.Process, layers); err != nil {
			return nil, fmt.Errorf("applying the launch layers of buildpack %s: %w", bp, err)
		}
	}
	progs, err := l.ExecD(opts.Process)
	if err != nil {
		return nil, err
	}
	for _, p := range progs {
		vars, err := env.RunExecD(ctx, p, e.Environ(), l.AppDir, opts.Stdout, opts.Stderr)
		if err != nil {
			return nil, &ExecDError{Path: p, Err: err}
		}
		e.ApplyExecD(vars)
	}
	Clean(e)
	return e, nil
}

// Clean removes the variables in Removed and the /cnb/process and
// /cnb/lifecycle entries of PATH; a PATH left with no entries is unset.
func Clean(e *env.Env) {
	for _, n := range Removed {
		e.Unset(n)
	}
	path, ok := e.Lookup("PATH")
	if !ok {
		return
	}
	entries := strings.Split(path, string(os.PathListSeparator))
	kept := entries[:0]
	for _, p := range entries {
		if !isRemovedPath(p) {
			kept = append(kept, p)
		}
	}
	if len(kept) == len(entries) {
		return
	}
	if len(kept) == 0 {
		e.Unset("PATH")
		return
	}
	e.Set("PATH", strings.Join(kept, string(os.PathListSeparator)))
}

func isRemovedPath(p string) bool {
	c := filepath.Clean(p)
	for _, r := range removedPath {
		if p != "" && c == r {
			return true
		}
	}
	return false
}

// LayerDirs returns the layer directories of buildpack id, sorted by name. A
// buildpack without a directory has no launch layers.
func (l Layout) LayerDirs(id string) ([]string, error) {
	return subdirs(filepath.Join(l.LayersDir, descriptor.EscapeID(id)))
}

// ExecD returns the exec.d programs to run for process, in the order the
// spec gives: every layer's exec.d/ files (buildpacks in build order, layers
// and then files by name), then every layer's exec.d/<process>/ files in the
// same order.
func (l Layout) ExecD(process string) ([]string, error) {
	return l.layerFiles("exec.d", process)
}

// Profiles returns the scripts a shell process sources, in order: every
// layer's profile.d/ files, then every layer's profile.d/<process>/ files
// (ordered as for ExecD), then <app>/.profile when it is a file.
func (l Layout) Profiles(process string) ([]string, error) {
	files, err := l.layerFiles("profile.d", process)
	if err != nil {
		return nil, err
	}
	p := filepath.Join(l.AppDir, ".profile")
	fi, err := os.Stat(p)
	switch {
	case err == nil && fi.Mode().IsRegular():
		files = append(files, p)
	case err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR):
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	return files, nil
}

// layerFiles lists the files of <layer>/<sub>/ across all layers, then those
// of <layer>/<sub>/<process>/ when process is set.
func (l Layout) layerFiles(sub, process string) ([]string, error) {
	var layers []string
	for _, bp := range l.Buildpacks {
		ls, err := l.LayerDirs(bp)
		if err != nil {
			return nil, err
		}
		layers = append(layers, ls...)
	}
	var out []string
	for _, layer := range layers {
		found, err := files(filepath.Join(layer, sub))
		if err != nil {
			return nil, err
		}
		out = append(out, found...)
	}
	if process == "" {
		return out, nil
	}
	for _, layer := range layers {
		found, err := files(filepath.Join(layer, sub, process))
		if err != nil {
			return nil, err
		}
		out = append(out, found...)
	}
	return out, nil
}

// subdirs returns the directories (or symbolic links to directories) in
// dir, sorted by name; a missing dir has none.
func subdirs(dir string) ([]string, error) {
	return list(dir, func(fi fs.FileInfo) bool { return fi.IsDir() })
}

// files returns the non-directories in dir, sorted by name; a missing dir
// has none.
func files(dir string) ([]string, error) {
	return list(dir, func(fi fs.FileInfo) bool { return !fi.IsDir() })
}

func list(dir string, keep func(fs.FileInfo) bool) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	var out []string
	for _, ent := range entries { // os.ReadDir sorts by name
		p := filepath.Join(dir, ent.Name())
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		if keep(fi) {
			out = append(out, p)
		}
	}
	return out, nil
}
