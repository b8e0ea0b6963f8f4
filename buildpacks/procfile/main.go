package main

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/kiln-build/kiln/buildpacks/internal/execlayer"
	"github.com/kiln-build/kiln/buildpacks/internal/fsutil"
	"github.com/kiln-build/kiln/buildpacks/internal/procfile"
	"github.com/kiln-build/kiln/buildpacks/sdk"
)

func main() { sdk.Main(detect, build) }

func detect(_ context.Context, dc *sdk.DetectContext) (sdk.BuildPlan, error) {
	if !fsutil.IsFile(filepath.Join(dc.AppDir, "Procfile")) {
		return sdk.BuildPlan{}, sdk.Fail("Procfile: no Procfile in the app root")
	}
	dc.Log.Step("Procfile: found Procfile")
	return sdk.BuildPlan{}, nil
}

func build(_ context.Context, bc *sdk.BuildContext) error {
	path := filepath.Join(bc.AppDir, "Procfile")
	procs, err := procfile.Read(path)
	if errors.Is(err, procfile.ErrNoProcesses) {
		return sdk.Fix(err, `add a line such as "web: ./server" to the Procfile, or delete the Procfile`)
	}
	if err != nil {
		return sdk.Fix(err, `write one "<type>: <command>" per line, for example "web: python3 app.py"`)
	}
	hasWeb := false
	for _, p := range procs {
		cmd, err := execlayer.Command(bc, p.Command)
		if err != nil {
			return err
		}
		proc := sdk.Process{Type: p.Type, Command: cmd, Default: p.Type == "web"}
		hasWeb = hasWeb || proc.Default
		bc.Launch.AddProcess(proc)
		note := ""
		if proc.Default {
			note = " (default)"
		}
		bc.Log.Step("Process %s%s: %s", p.Type, note, p.Command)
	}
	if !hasWeb {
		bc.Log.Warn("the Procfile has no web process; the default process comes from another buildpack, if any")
	}
	return nil
}
