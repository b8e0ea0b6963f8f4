package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/detect"
	"github.com/kiln-build/kiln/lifecycle/buildphase"
	"github.com/kiln-build/kiln/lifecycle/create"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/failure"
)

// phaseCommand is what kiln runs inside the build container, as the CNB
// user, to drive the buildpacks. It is hidden: users run "kiln build".
func phaseCommand() *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "app", Value: create.AppPath},
		&cli.StringFlag{Name: "layers", Value: create.LayersPath},
		&cli.StringFlag{Name: "platform", Value: create.PlatformPath},
		&cli.StringFlag{Name: "buildpacks", Value: descriptor.DefaultBuildpacksDir},
		&cli.StringFlag{Name: "order", Value: create.OrderPath},
		&cli.StringFlag{Name: "target-os"},
		&cli.StringFlag{Name: "target-arch"},
		&cli.StringFlag{Name: "target-arch-variant"},
		&cli.StringFlag{Name: "target-distro-name"},
		&cli.StringFlag{Name: "target-distro-version"},
		&cli.StringFlag{Name: "exec-env", Value: "production"},
	}
	return &cli.Command{
		Name:   "phase",
		Hidden: true,
		Usage:  "run one lifecycle phase inside the build container",
		Subcommands: []*cli.Command{
			{Name: "detect", Flags: flags, Action: phaseDetect},
			{Name: "build", Flags: flags, Action: phaseBuild},
		},
	}
}

func phaseTarget(c *cli.Context) descriptor.RunTarget {
	return descriptor.RunTarget{
		OS:            c.String("target-os"),
		Arch:          c.String("target-arch"),
		ArchVariant:   c.String("target-arch-variant"),
		DistroName:    c.String("target-distro-name"),
		DistroVersion: c.String("target-distro-version"),
	}
}

// phaseFailed records err where the host side reads it, and exits with
// its code without printing it: the host reports it once, as the build's
// failure.
func phaseFailed(c *cli.Context, rel string, err error) error {
	p := filepath.Join(c.String("layers"), rel)
	msg := err.Error()
	var fe *failure.Error
	if errors.As(err, &fe) {
		msg = fe.Err.Error() // the host names the phase itself
	}
	if mkErr := os.MkdirAll(filepath.Dir(p), 0o755); mkErr == nil {
		if wErr := os.WriteFile(p, []byte(msg+"\n"), 0o644); wErr == nil {
			return cli.Exit("", failure.Code(err))
		}
	}
	return err
}

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

func phaseBuild(c *cli.Context) error {
	layers := c.String("layers")
	group, err := descriptor.ReadGroup(filepath.Join(layers, "group.toml"))
	if err != nil {
		return phaseFailed(c, create.BuildErrorRel, failure.New("build", failure.BuildError, err))
	}
	plan, err := descriptor.ReadPlan(filepath.Join(layers, "plan.toml"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return phaseFailed(c, create.BuildErrorRel, failure.New("build", failure.BuildError, err))
	}
	_, err = buildphase.Run(c.Context, buildphase.Options{
		AppDir:        c.String("app"),
		LayersDir:     layers,
		PlatformDir:   c.String("platform"),
		BuildpacksDir: c.String("buildpacks"),
		Group:         group,
		Plan:          plan,
		BaseEnv:       os.Environ(),
		Target:        phaseTarget(c),
		ExecEnv:       c.String("exec-env"),
		Output:        c.App.Writer,
	})
	if err != nil {
		return phaseFailed(c, create.BuildErrorRel, err)
	}
	fmt.Fprintln(c.App.Writer, "build: done")
	return nil
}
