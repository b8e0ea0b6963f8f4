package main

import (
	"context"
	"path/filepath"

	"github.com/kiln-build/kiln/buildpacks/internal/fsutil"
	"github.com/kiln-build/kiln/buildpacks/sdk"
)

func detect(_ context.Context, dc *sdk.DetectContext) (sdk.BuildPlan, error) {
	if fsutil.IsFile(filepath.Join(dc.AppDir, "go.mod")) {
		dc.Log.Step("Go: found go.mod")
		return sdk.PlanFor("go", nil), nil
	}
	if m, _ := filepath.Glob(filepath.Join(dc.AppDir, "*.go")); len(m) > 0 {
		return sdk.BuildPlan{}, sdk.Fail("Go: found %s but no go.mod; %s", filepath.Base(m[0]), noModuleAdvice(dc.AppDir))
	}
	return sdk.BuildPlan{}, sdk.Fail("Go: no go.mod in the app root")
}

// gopathMarkers are the files of GOPATH-era dependency tools.
var gopathMarkers = []string{"Gopkg.toml", "Gopkg.lock", "glide.yaml", "Godeps/Godeps.json", "vendor/vendor.json", "vendor.conf"}

// noModuleAdvice says what to do about Go files without a go.mod: a
// GOPATH-era project (vendor/ or a dependency tool's files) becomes a
// module; a directory inside a module is built from the module root.
func noModuleAdvice(app string) string {
	gopath := fsutil.IsDir(filepath.Join(app, "vendor"))
	for _, m := range gopathMarkers {
		gopath = gopath || fsutil.IsFile(filepath.Join(app, m))
	}
	if gopath {
		return "this is a GOPATH-era project (vendor/ or a dependency tool's files, no go.mod), which current Go versions do not build: " +
			"make it a module with `go mod init <its import path, e.g. github.com/you/app>` and `go mod tidy` " +
			"(`go mod vendor` refreshes vendor/), then commit go.mod and go.sum"
	}
	return "when the module's go.mod is in a parent directory, build from the module root (--path <module root>) " +
		"and choose the main package with BP_GO_TARGETS=./<this directory>; otherwise run `go mod init <module>` to make it a module"
}
