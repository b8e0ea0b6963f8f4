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
		return sdk.BuildPlan{}, sdk.Fail("Go: found %s but no go.mod; run `go mod init <module>` to make the app a Go module", filepath.Base(m[0]))
	}
	return sdk.BuildPlan{}, sdk.Fail("Go: no go.mod in the app root")
}
