package main

import (
	"context"
	"os"
	"path/filepath"

	"github.com/kiln-build/kiln/buildpacks/sdk"
)

func detect(_ context.Context, dc *sdk.DetectContext) (sdk.BuildPlan, error) {
	fi, err := os.Stat(filepath.Join(dc.AppDir, "package.json"))
	if err != nil || !fi.Mode().IsRegular() {
		return sdk.BuildPlan{}, sdk.Fail("Node.js: no package.json in the app root")
	}
	dc.Log.Step("Node.js: found package.json")
	return sdk.PlanFor("node", nil), nil
}
