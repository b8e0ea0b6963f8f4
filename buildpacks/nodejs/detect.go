package main

import (
	"context"
	"path/filepath"

	"github.com/kiln-build/kiln/buildpacks/internal/fsutil"
	"github.com/kiln-build/kiln/buildpacks/sdk"
)

func detect(_ context.Context, dc *sdk.DetectContext) (sdk.BuildPlan, error) {
	if !fsutil.IsFile(filepath.Join(dc.AppDir, "package.json")) {
		return sdk.BuildPlan{}, sdk.Fail("Node.js: no package.json in the app root")
	}
	dc.Log.Step("Node.js: found package.json")
	return sdk.PlanFor("node", nil), nil
}
