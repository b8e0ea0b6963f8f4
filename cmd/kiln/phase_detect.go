package main

import (
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/detect"
	"github.com/kiln-build/kiln/lifecycle/create"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/failure"
)

func phaseDetect(c *cli.Context) error {
	order, err := descriptor.ReadOrder(c.String("order"))
	if err != nil {
		return phaseFailed(c, create.DetectErrorRel, failure.New("detect", failure.DetectError, err))
	}
	res, err := detect.Run(c.Context, detect.Options{
		Order:       order,
		Buildpacks:  descriptor.NewLookup(c.String("buildpacks")),
		AppDir:      c.String("app"),
		PlatformDir: c.String("platform"),
		ExecEnv:     c.String("exec-env"),
		Target:      phaseTarget(c),
		Log:         c.App.Writer,
	})
	if err != nil {
		return phaseFailed(c, create.DetectErrorRel, failure.New("detect", failure.DetectError, err))
	}
	layers := c.String("layers")
	if err := res.WriteFiles(filepath.Join(layers, "group.toml"), filepath.Join(layers, "plan.toml")); err != nil {
		return phaseFailed(c, create.DetectErrorRel, failure.New("detect", failure.DetectError, err))
	}
	return nil
}
