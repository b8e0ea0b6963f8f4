package main

import (
	"context"
	"path/filepath"

	"github.com/kiln-build/kiln/buildpacks/internal/fsutil"
	"github.com/kiln-build/kiln/buildpacks/sdk"
)

func main() { sdk.Main(detect, build) }

// markers are files that make an app a Python app.
var markers = []string{"requirements.txt", "pyproject.toml", ".python-version", "runtime.txt"}

func detect(_ context.Context, dc *sdk.DetectContext) (sdk.BuildPlan, error) {
	for _, m := range markers {
		if fsutil.IsFile(filepath.Join(dc.AppDir, m)) {
			dc.Log.Step("Python: found %s", m)
			return sdk.PlanFor("python", nil), nil
		}
	}
	if py, _ := filepath.Glob(filepath.Join(dc.AppDir, "*.py")); len(py) > 0 {
		dc.Log.Step("Python: found %s", filepath.Base(py[0]))
		return sdk.PlanFor("python", nil), nil
	}
	return sdk.BuildPlan{}, sdk.Fail("Python: no requirements.txt, pyproject.toml, .python-version, runtime.txt or *.py in the app root")
}
