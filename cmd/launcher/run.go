package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-build/kiln/cmd/launcher/internal/launchenv"
	"github.com/kiln-build/kiln/cmd/launcher/internal/selection"
	"github.com/kiln-build/kiln/cmd/launcher/internal/shell"
	"github.com/kiln-build/kiln/internal/env"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/failure"
)

// The launcher's exit codes when it fails before the process starts; see
// lifecycle/failure.
const (
	codePlatformAPI  = failure.PlatformAPI     // CNB_PLATFORM_API is not supported
	codeBuildpackAPI = failure.BuildpackAPI    // a buildpack's API is not supported
	codeFailed       = failure.LaunchInput     // inputs could not be read
	codeNoProcess    = failure.LaunchNoProcess // nothing to run, unknown or ineligible process
	codeExecD        = failure.LaunchError     // an exec.d program failed
	codeExec         = failure.LaunchExec      // the command could not be found or started
)

// The Platform and Buildpack API versions the launcher supports.
var (
	oldestPlatformAPI  = descriptor.API{Major: 0, Minor: 7}
	newestPlatformAPI  = descriptor.PlatformAPI
	oldestBuildpackAPI = descriptor.OldestBuildpackAPI
	newestBuildpackAPI = descriptor.BuildpackAPI
	// argsAPI is the first Buildpack API whose process args may be
	// replaced by user arguments (and whose processes are always direct).
	argsAPI = descriptor.API{Major: 0, Minor: 9}
)

// fail returns an error that makes the launcher exit with code.
func fail(code int, format string, a ...any) error {
	return failure.New("", code, fmt.Errorf(format, a...))
}

// execSpec is a ready-to-exec process.
type execSpec struct {
	Path string   // executable file
	Argv []string // argv[0] included
	Env  []string
	Dir  string // working directory
}

// prepare does all the launcher's work short of replacing itself: it reads
// the image's metadata, selects the process, builds its environment (running
// exec.d programs, whose output goes to the launcher's stdout and stderr)
// and resolves the executable.
func prepare(ctx context.Context, argv, environ []string) (*execSpec, error) {
	base := env.New(environ)
	if v := base.Get("CNB_PLATFORM_API"); v != "" {
		api, err := descriptor.ParseAPI(v)
		if err != nil || api.Compare(oldestPlatformAPI) < 0 || api.Compare(newestPlatformAPI) > 0 {
			return nil, fail(codePlatformAPI, "CNB_PLATFORM_API=%s is not supported: this launcher supports Platform API %s to %s", v, oldestPlatformAPI, newestPlatformAPI)
		}
	}
	layersDir := valueOr(base, "CNB_LAYERS_DIR", "/layers")
	appDir := valueOr(base, "CNB_APP_DIR", "/workspace")

	mdPath := filepath.Join(layersDir, "config", "metadata.toml")
	md, err := readMetadata(mdPath)
	if err != nil {
		return nil, fail(codeFailed, "%w", err)
	}
	bpAPI := map[string]descriptor.API{}
	var ids []string
	for _, bp := range md.Buildpacks {
		api, err := descriptor.ParseAPI(bp.API)
		if err != nil {
			return nil, fail(codeBuildpackAPI, "%s: buildpack %s: %w", mdPath, bp.ID, err)
		}
		if api.Compare(oldestBuildpackAPI) < 0 || api.Compare(newestBuildpackAPI) > 0 {
			return nil, fail(codeBuildpackAPI, "%s: buildpack %s uses Buildpack API %s: this launcher supports %s to %s", mdPath, bp.ID, api, oldestBuildpackAPI, newestBuildpackAPI)
		}
		bpAPI[bp.ID] = api
		ids = append(ids, bp.ID)
	}

	req := selection.Request{
		Argv:        argv,
		ProcessType: base.Get("CNB_PROCESS_TYPE"),
		ExecEnv:     base.Get("CNB_EXEC_ENV"),
		AppDir:      appDir,
		DefaultType: md.BuildpackDefaultProcessType,
	}
	for _, p := range md.Processes {
		api, ok := bpAPI[p.BuildpackID]
		req.Processes = append(req.Processes, selection.Candidate{
			Type:       p.Type,
			Command:    p.Command,
			Args:       p.Args,
			Direct:     p.Direct,
			WorkingDir: p.WorkingDir,
			ExecEnv:    p.ExecEnv,
			// A process whose buildpack is unknown follows the
			// current API.
			OverridableArgs: !ok || api.AtLeast(argsAPI),
		})
	}
	proc, err := selection.Select(req)
	if err != nil {
		return nil, fail(codeNoProcess, "%w", err)
	}

	layout := launchenv.Layout{LayersDir: layersDir, AppDir: appDir, Buildpacks: ids}
	launchEnv, err := launchenv.Build(ctx, environ, layout, launchenv.Options{
		Process: proc.Type,
		Stdout:  os.Stdout,
		Stderr:  os.Stderr,
	})
	var execdErr *launchenv.ExecDError
	switch {
	case errors.As(err, &execdErr):
		return nil, fail(codeExecD, "%w", err)
	case err != nil:
		return nil, fail(codeFailed, "%w", err)
	}

	if fi, err := os.Stat(proc.WorkingDir); err != nil || !fi.IsDir() {
		if err == nil {
			err = errors.New("not a directory")
		}
		return nil, fail(codeExec, "working directory %s: %w", proc.WorkingDir, err)
	}
	path := launchEnv.Get("PATH")
	if proc.Direct {
		exe, err := lookPath(proc.Command, path, proc.WorkingDir)
		if err != nil {
			return nil, fail(codeExec, "%w", err)
		}
		return &execSpec{
			Path: exe,
			Argv: append([]string{proc.Command}, proc.Args...),
			Env:  launchEnv.Environ(),
			Dir:  proc.WorkingDir,
		}, nil
	}

	bash, err := lookPath("bash", path, appDir)
	if err != nil {
		var err2 error
		if bash, err2 = lookPath("/bin/bash", "", appDir); err2 != nil {
			return nil, fail(codeExec, "shell processes need bash: %w", err)
		}
	}
	profiles, err := layout.Profiles(proc.Type)
	if err != nil {
		return nil, fail(codeFailed, "%w", err)
	}
	script := shell.Script{Profiles: profiles, Command: proc.Command, Args: proc.Args}
	if proc.WorkingDir != appDir {
		script.WorkingDir = proc.WorkingDir
	}
	// Profiles are sourced in <app>; the script then changes to the
	// process's working directory.
	return &execSpec{Path: bash, Argv: script.Argv("bash"), Env: launchEnv.Environ(), Dir: appDir}, nil
}

func valueOr(e *env.Env, name, def string) string {
	if v := e.Get(name); v != "" {
		return v
	}
	return def
}

// lookPath finds the executable for name as a shell would with the given
// PATH value: a name containing "/" is used as it is (relative to dir),
// otherwise each PATH entry is tried in order, an empty entry meaning dir.
func lookPath(name, path, dir string) (string, error) {
	if strings.Contains(name, "/") {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if err := isExecutable(p); err != nil {
			return "", fmt.Errorf("command %s: %w", name, err)
		}
		return p, nil
	}
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			d = "."
		}
		if !filepath.IsAbs(d) {
			d = filepath.Join(dir, d)
		}
		p := filepath.Join(d, name)
		if isExecutable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("command %q not found in PATH=%s", name, path)
}

func isExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("%s is a directory", p)
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s: %w", p, fs.ErrPermission)
	}
	return nil
}
