package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/kiln-build/kiln/detect"
	"github.com/kiln-build/kiln/internal/buildphase"
	"github.com/kiln-build/kiln/internal/generatephase"
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
		&cli.StringFlag{Name: "extensions", Value: descriptor.DefaultExtensionsDir},
		&cli.StringFlag{Name: "generated", Value: create.GeneratedPath},
	}
	restored := &cli.StringSliceFlag{
		Name:  "restored",
		Usage: "buildpack dirs of <layers> the host restored before detect; those of buildpacks detect did not choose are removed before build",
	}
	return &cli.Command{
		Name:   "phase",
		Hidden: true,
		Usage:  "run one lifecycle phase inside the build container",
		// The driver keeps the buildpacks' processes from tracing it
		// (and from reading its memory through /proc): they run as the
		// same user, and what they may be is the reason for the sandbox.
		Before: func(*cli.Context) error { return undumpable() },
		Subcommands: []*cli.Command{
			{Name: "detect", Flags: flags, Action: phaseDetect},
			{Name: "build", Flags: append(flags, restored), Action: phaseBuild},
			{Name: "detect-build", Flags: append(flags, restored), Action: phaseDetectBuild},
			{Name: "detect-generate", Flags: flags, Action: phaseDetectGenerate},
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
	if writeReplacing(p, []byte(msg+"\n")) == nil {
		return cli.Exit("", failure.Code(err))
	}
	return err
}

// writeReplacing writes data to a new file renamed over p, so whatever a
// buildpack left at p (a FIFO that would block the write, a symlink) is
// replaced, not written through.
func writeReplacing(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".error-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), p)
}

func phaseDetect(c *cli.Context) error {
	order, err := descriptor.ReadOrders(c.String("order"))
	if err != nil {
		return phaseFailed(c, create.DetectErrorRel, failure.New("detect", failure.DetectError, err))
	}
	res, err := detect.Run(c.Context, detect.Options{
		Order:           order.Buildpacks,
		Buildpacks:      descriptor.NewLookup(c.String("buildpacks")),
		Extensions:      order.Extensions,
		ExtensionFinder: descriptor.NewExtensionLookup(c.String("extensions")),
		AppDir:          c.String("app"),
		PlatformDir:     c.String("platform"),
		ExecEnv:         c.String("exec-env"),
		Target:          phaseTarget(c),
		Log:             c.App.Writer,
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

// phaseDetectBuild runs detect and then build in one container, which
// saves a container start per build. The host restored the cached layers
// of every buildpack it knew (the --restored dirs) before the container
// started; the dirs of those detect did not choose are removed here, so
// the build sees what a restore of the chosen group alone gives.
func phaseDetectBuild(c *cli.Context) error {
	if err := phaseDetect(c); err != nil {
		return err
	}
	layers := c.String("layers")
	groups, err := descriptor.ReadGroups(filepath.Join(layers, descriptor.GroupFile))
	if err != nil {
		return phaseFailed(c, create.DetectErrorRel, failure.New("detect", failure.DetectError, err))
	}
	if len(groups.Extensions) > 0 {
		// the host runs detect-generate when the order has extensions
		err := fmt.Errorf("detect chose image extensions (%s), which need the generate phase: run detect-generate", groups.Extensions[0].Ref())
		return phaseFailed(c, create.DetectErrorRel, failure.New("detect", failure.DetectError, err))
	}
	fmt.Fprintln(c.App.Writer, "===> BUILDING")
	return phaseBuild(c)
}

// phaseDetectGenerate runs detect and then, when image extensions
// passed, the generate phase, which rewrites plan.toml without the
// entries the extensions met. The host reads what they generated before
// it starts the build container (phase build): nothing the build runs
// can change that.
func phaseDetectGenerate(c *cli.Context) error {
	if err := phaseDetect(c); err != nil {
		return err
	}
	layers := c.String("layers")
	groups, err := descriptor.ReadGroups(filepath.Join(layers, descriptor.GroupFile))
	if err != nil {
		return phaseFailed(c, create.DetectErrorRel, failure.New("detect", failure.DetectError, err))
	}
	if len(groups.Extensions) == 0 {
		return nil
	}
	fmt.Fprintln(c.App.Writer, "===> GENERATING")
	planPath := filepath.Join(layers, descriptor.PlanFile)
	plan, err := descriptor.ReadPlan(planPath)
	if err != nil {
		return phaseFailed(c, create.GenerateErrorRel, failure.New("generate", failure.GenerateError, err))
	}
	left, err := generatephase.Run(c.Context, generatephase.Options{
		AppDir:         c.String("app"),
		PlatformDir:    c.String("platform"),
		BuildConfigDir: detect.DefaultBuildConfigDir,
		OutputDir:      c.String("generated"),
		Extensions:     groups.Extensions,
		ExtensionsDir:  c.String("extensions"),
		Plan:           plan,
		BaseEnv:        os.Environ(),
		Target:         phaseTarget(c),
		Output:         c.App.Writer,
	})
	if err == nil {
		err = descriptor.WritePlan(planPath, left)
	}
	if err != nil {
		return phaseFailed(c, create.GenerateErrorRel, failure.New("generate", failure.GenerateError, err))
	}
	return nil
}

// dropUnchosen removes the restored buildpack dirs of buildpacks not in
// group.
func dropUnchosen(layers string, restored []string, group []descriptor.GroupEntry) error {
	chosen := map[string]bool{}
	for _, g := range group {
		chosen[descriptor.EscapeID(g.ID)] = true
	}
	for _, name := range restored {
		if chosen[name] {
			continue
		}
		if name == "" || name == "." || name == ".." || filepath.Base(name) != name {
			return fmt.Errorf("--restored %q: not a buildpack dir name", name)
		}
		if err := os.RemoveAll(filepath.Join(layers, name)); err != nil {
			return fmt.Errorf("removing the restored layers of a buildpack detect did not choose: %w", err)
		}
	}
	return nil
}

func phaseBuild(c *cli.Context) error {
	layers := c.String("layers")
	group, err := descriptor.ReadGroup(filepath.Join(layers, "group.toml"))
	if err != nil {
		return phaseFailed(c, create.BuildErrorRel, failure.New("build", failure.BuildError, err))
	}
	if err := dropUnchosen(layers, c.StringSlice("restored"), group); err != nil {
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

// undumpable makes this process non-dumpable (PR_SET_DUMPABLE 0): processes
// of the same uid can then neither ptrace it nor open its /proc files.
// Programs it executes are dumpable again.
func undumpable() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("phase: making the driver non-dumpable: %w", err)
	}
	return nil
}
