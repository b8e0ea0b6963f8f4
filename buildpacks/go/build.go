package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/kiln-build/kiln/buildpacks/internal/fetch"
	"github.com/kiln-build/kiln/buildpacks/internal/fsutil"
	"github.com/kiln-build/kiln/buildpacks/internal/gotoolchain"
	"github.com/kiln-build/kiln/buildpacks/internal/layerbom"
	"github.com/kiln-build/kiln/buildpacks/sdk"
	"github.com/kiln-build/kiln/internal/bom"
)

// Default go build flags; BP_GO_BUILD_FLAGS are added after them, so a
// later -ldflags replaces the default one.
var defaultBuildFlags = []string{"-trimpath", "-buildvcs=false", "-ldflags=-s -w"}

func build(ctx context.Context, bc *sdk.BuildContext) error {
	log := bc.Log
	modPath := filepath.Join(bc.AppDir, "go.mod")
	mod, err := readGoMod(modPath)
	if err != nil {
		return sdk.Fix(err, "correct go.mod (running `go mod tidy` locally shows and fixes most problems)")
	}
	req, err := request(mod, bc.Getenv("BP_GO_VERSION"))
	if err != nil {
		return sdk.Fix(err, "set BP_GO_VERSION to a Go version at or above go.mod's go line, or remove it")
	}

	// the toolchain runs here, in the build container; the app is built
	// for the run image's architecture
	hostOS, hostArch := toolchainPlatform(bc.Getenv)
	targetArch := bc.Target.Arch
	if targetArch == "" {
		targetArch = hostArch
	}
	fc := fetch.New(bc.Getenv("BP_DOWNLOAD_CACHE"), log.Detail)
	proxy, err := gotoolchain.ProxyFromEnv(bc.Getenv("GOPROXY"))
	if err != nil {
		return sdk.Fix(err, "set GOPROXY to a module proxy URL, such as https://proxy.golang.org")
	}
	sumdb, err := gotoolchain.SumDBFromEnv(bc.Getenv("GOSUMDB"))
	if err != nil {
		return sdk.Fix(err, "unset GOSUMDB or give the database's key")
	}
	src := &gotoolchain.Source{Proxy: proxy, SumDB: sumdb, Fetch: fc, Logf: log.Detail}

	var available []string
	if req.Exact == "" {
		if available, err = src.Versions(ctx, hostOS, hostArch); err != nil {
			return sdk.Fix(err, "make sure the module proxy %s is reachable, or pin the toolchain with a toolchain line in go.mod", proxy)
		}
	}
	goVersion, err := resolve(req, available)
	if err != nil {
		return sdk.Fix(err, "change the go line in go.mod (or BP_GO_VERSION) to a released Go version")
	}
	log.Step("Using Go %s: %s", goVersion, req.Source)

	goLayer, err := bc.Layer("go", sdk.LayerTypes{Build: true, Cache: true})
	if err != nil {
		return err
	}
	reused, err := goLayer.Reuse(map[string]string{"version": goVersion, "platform": hostOS + "/" + hostArch})
	if err != nil {
		return err
	}
	if !reused {
		if err := src.Install(ctx, goVersion, hostOS, hostArch, goLayer.Path); err != nil {
			return sdk.Fix(err, "check that Go %s exists (https://go.dev/dl) and that %s is reachable", goVersion, proxy)
		}
	}
	// later buildpacks find go on PATH through the layer's bin/
	if err := goLayer.SharedEnv().Override("GOROOT", goLayer.Path); err != nil {
		return err
	}

	// module and build caches, kept between builds
	modCache, err := cacheLayer(bc, "go-mod")
	if err != nil {
		return err
	}
	buildCache, err := cacheLayer(bc, "go-build")
	if err != nil {
		return err
	}

	targets, err := findTargets(bc.AppDir, mod.Module, bc.Getenv("BP_GO_TARGETS"), targetArch)
	if err != nil {
		return sdk.Fix(err, "put package main at the root of the module or in cmd/<name>, or list the main packages in BP_GO_TARGETS (for example ./cmd/web:./cmd/worker)")
	}
	userFlags, err := splitFlags(bc.Getenv("BP_GO_BUILD_FLAGS"))
	if err != nil {
		return sdk.Fix(fmt.Errorf("BP_GO_BUILD_FLAGS: %w", err), "quote BP_GO_BUILD_FLAGS as you would in a shell")
	}

	app, err := bc.Layer("app", sdk.LayerTypes{Launch: true})
	if err != nil {
		return err
	}
	gopath, err := os.MkdirTemp("", "gopath-")
	if err != nil {
		return fmt.Errorf("creating GOPATH: %w", err)
	}
	defer os.RemoveAll(gopath)
	environ := goEnv(bc.Getenv, goLayer.Path, modCache.Path, buildCache.Path, gopath, targetArch)
	if targetArch != runtime.GOARCH || hostArch != runtime.GOARCH {
		if err := logCrossCompile(ctx, filepath.Join(goLayer.Path, "bin", "go"), environ, targetArch, log); err != nil {
			return err
		}
	}

	// The binaries are built into a cache layer of their own, where the
	// last build's are: go build finds them up to date and does not link
	// again. When they are the same as the previous image's (Go builds are
	// reproducible), that image's layer is kept and the exporter neither
	// reads nor compresses them again; else they are copied into it.
	outLayer, err := cacheLayer(bc, "go-out")
	if err != nil {
		return err
	}
	outDir := filepath.Join(outLayer.Path, "bin")
	if err := keepOnly(outDir, targets); err != nil {
		return err
	}
	binDir := filepath.Join(app.Path, "bin")
	var procs []sdk.Process
	for i, t := range targets {
		args := append([]string{"build", "-o", filepath.Join(outDir, t.Name)}, defaultBuildFlags...)
		args = append(args, userFlags...)
		args = append(args, t.Pkg)
		cmd := exec.CommandContext(ctx, filepath.Join(goLayer.Path, "bin", "go"), args...)
		cmd.Dir = bc.AppDir
		cmd.Env = environ
		if err := log.RunCommand(cmd); err != nil {
			return sdk.Fix(err, "fix the compile errors above; the build ran `go build` with Go %s", goVersion)
		}
		out := filepath.Join(binDir, t.Name)
		p := sdk.Process{Type: t.Name, Command: []string{out}}
		if i == 0 {
			p.Type, p.Default = "web", true
		}
		procs = append(procs, p)
		if i == 0 && t.Name != "web" {
			procs = append(procs, sdk.Process{Type: t.Name, Command: []string{out}})
		}
	}
	sum, err := treeSHA256(outDir)
	if err != nil {
		return err
	}
	reused, err = app.Reuse(map[string]string{"go-version": goVersion, "binaries-sha256": sum})
	if err != nil {
		return err
	}
	if !reused {
		if err := copyBinaries(outDir, binDir); err != nil {
			return fmt.Errorf("copying the binaries into layer %s: %w", app.Name, err)
		}
	}
	if err := writeSBOM(bc, app, outDir, targets); err != nil {
		return err
	}
	for _, p := range procs {
		bc.Launch.AddProcess(p)
		log.Detail("process %q runs %s", p.Type, p.Command[0])
	}
	if len(targets) > 1 {
		log.Step("Process web (default) runs %s; BP_GO_TARGETS chooses others", targets[0].Pkg)
	}
	return pruneSources(bc)
}

// writeSBOM writes the SBOM of the app layer: the modules and the Go
// version of every binary, from their build information. It reads the
// binaries kept in the go-out layer, which are those of the app layer
// even when that layer is reused from the previous image.
func writeSBOM(bc *sdk.BuildContext, app *sdk.Layer, outDir string, targets []target) error {
	var comps []bom.Component
	for _, t := range targets {
		cs, err := layerbom.GoBinary(filepath.Join(outDir, t.Name))
		if err != nil {
			return err
		}
		comps = append(comps, cs...)
	}
	return layerbom.Write(bc, app, comps)
}

// cacheLayer returns a cache-only layer that is kept as long as it is
// there: Go's caches are keyed by content themselves.
func cacheLayer(bc *sdk.BuildContext, name string) (*sdk.Layer, error) {
	l, err := bc.Layer(name, sdk.LayerTypes{Cache: true})
	if err != nil {
		return nil, err
	}
	if _, err := l.Reuse(map[string]string{"layout": "1"}); err != nil {
		return nil, err
	}
	return l, nil
}

// goEnv is the environment of the go commands: the buildpack's own, with
// the toolchain first on PATH, the caches in their layers, the installed
// toolchain forced (GOTOOLCHAIN=local), cgo off unless the user turned it
// on, and a writable module cache so cached layers can be replaced.
func goEnv(getenv func(string) string, goroot, modCache, buildCache, gopath, goarch string) []string {
	vars := map[string]string{
		"GOROOT":      goroot,
		"PATH":        filepath.Join(goroot, "bin") + string(os.PathListSeparator) + getenv("PATH"),
		"GOTOOLCHAIN": "local",
		"GOMODCACHE":  modCache,
		"GOCACHE":     buildCache,
		"GOPATH":      gopath,
		"GOENV":       "off",
		"GOOS":        "linux",
		"GOARCH":      goarch,
		"GOFLAGS":     strings.TrimSpace("-modcacherw " + getenv("GOFLAGS")),
	}
	if getenv("CGO_ENABLED") == "" {
		vars["CGO_ENABLED"] = "0"
	}
	return sdk.MergeEnv(os.Environ(), vars)
}

// treeSHA256 digests the regular files directly in dir: their names,
// modes and contents, in name order.
func treeSHA256(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("reading the built binaries: %w", err)
	}
	h := sha256.New()
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			return "", fmt.Errorf("reading the built binaries: %w", err)
		}
		if !info.Mode().IsRegular() {
			return "", fmt.Errorf("build output %s is not a regular file", filepath.Join(dir, e.Name()))
		}
		sum, err := fsutil.FileSHA256(filepath.Join(dir, e.Name()))
		if err != nil {
			return "", fmt.Errorf("reading the built binaries: %w", err)
		}
		fmt.Fprintf(h, "%s\x00%o\x00%s\x00", e.Name(), info.Mode().Perm(), sum)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// keepOnly removes from dir (the build output kept from the last build)
// every entry that is not one of targets' binaries, so a target dropped
// since then is not shipped.
func keepOnly(dir string, targets []target) error {
	want := map[string]bool{}
	for _, t := range targets {
		want[t.Name] = true
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the kept build output: %w", err)
	}
	for _, e := range entries {
		if want[e.Name()] && e.Type().IsRegular() {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("clearing the kept build output: %w", err)
		}
	}
	return nil
}

// copyBinaries copies the regular files of src into dst, created anew.
func copyBinaries(src, dst string) error {
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := fsutil.CopyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()), 0o755); err != nil {
			return err
		}
	}
	return nil
}
