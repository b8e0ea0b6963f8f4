package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/internal/defaultbuilder"
	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	debianbookworm "github.com/kiln-build/kiln/stacks/debian-bookworm"
	"github.com/kiln-build/kiln/stacks/stack"
)

// withDefaultBuilder makes cmd (kiln build) fall back to the default
// builder when neither --builder nor KILN_BUILDER names one: the builder
// is made in the local store the first time and reused afterwards.
func withDefaultBuilder(cmd *cli.Command) *cli.Command {
	action := cmd.Action
	cmd.Action = func(c *cli.Context) error {
		// Bad arguments are reported by the command itself, before any
		// builder is made.
		if c.String("builder") == "" && c.NArg() == 1 && c.Command.Name == "build" {
			if b := projectBuilder(c); b != "" {
				if err := c.Set("builder", b); err != nil {
					return fmt.Errorf("using the project's builder: %w", err)
				}
			}
		}
		if c.String("builder") == "" && c.NArg() == 1 {
			iio, cache, err := setup()
			if err != nil {
				return err
			}
			ref, err := ensureDefaultBuilder(c.Context, iio, cache, c.App.ErrWriter)
			if err != nil {
				return err
			}
			if err := c.Set("builder", ref); err != nil {
				return fmt.Errorf("using the default builder: %w", err)
			}
		}
		return action(c)
	}
	return cmd
}

// withDefaultBuilderCommand adds `kiln builder default` to cmd (kiln
// builder): it makes the default builder now, as kiln build would on first
// use, and prints its name.
func withDefaultBuilderCommand(cmd *cli.Command) *cli.Command {
	cmd.Subcommands = append(cmd.Subcommands, &cli.Command{
		Name:  "default",
		Usage: "make kiln's default builder in the local store, unless it is there and current, and print its name",
		Description: "kiln build uses " + defaultbuilder.Name + " when no --builder is given: the\n" +
			debianbookworm.Name + " stack (built with mmdebstrap, cached by recipe) and kiln's buildpacks.\n" +
			"With --publish PREFIX it also pushes the stack's images and the builder to\n" +
			"PREFIX/build:latest, PREFIX/run:latest and PREFIX/builder:latest (whose run image\n" +
			"is PREFIX/run:latest) and prints the builder's name, for --builder elsewhere.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "publish", Usage: "push the default stack and builder to the registry under `PREFIX` (REGISTRY/PATH)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usageError("builder default: takes no arguments")
			}
			if prefix := c.String("publish"); prefix != "" {
				if _, err := defaultbuilder.PublishedNames(prefix); err != nil {
					return usageError("builder default: %v", err)
				}
			}
			iio, cache, err := setup()
			if err != nil {
				return err
			}
			if prefix := c.String("publish"); prefix != "" {
				p, err := publishDefaultBuilder(c.Context, iio, cache, prefix, c.App.ErrWriter)
				if err != nil {
					return err
				}
				fmt.Fprintln(c.App.Writer, p.Builder)
				return nil
			}
			ref, err := ensureDefaultBuilder(c.Context, iio, cache, c.App.ErrWriter)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, ref)
			return nil
		},
	})
	return cmd
}

// publishDefaultBuilder pushes the default stack and builder to the
// registry under prefix (see defaultbuilder.Publish).
func publishDefaultBuilder(ctx context.Context, iio *imageio.IO, cache, prefix string, log io.Writer) (defaultbuilder.Published, error) {
	o, err := defaultBuilderOptions(iio, cache, log)
	if err != nil {
		return defaultbuilder.Published{}, err
	}
	return defaultbuilder.Publish(ctx, o, prefix, defaultbuilder.RegistryFunc(func(ctx context.Context, ref string, img v1.Image) error {
		return iio.Write(ctx, imageio.Location{Kind: imageio.Registry, Name: ref}, img)
	}))
}

// ensureDefaultBuilder returns the name of the default builder in the local
// store, making it first when needed (see package defaultbuilder).
func ensureDefaultBuilder(ctx context.Context, iio *imageio.IO, cache string, log io.Writer) (string, error) {
	o, err := defaultBuilderOptions(iio, cache, log)
	if err != nil {
		return "", err
	}
	return defaultbuilder.Ensure(ctx, o)
}

// defaultBuilderOptions say how kiln makes its default builder.
func defaultBuilderOptions(iio *imageio.IO, cache string, log io.Writer) (defaultbuilder.Options, error) {
	bps, err := defaultbuilder.FindBuildpacks(buildpacksTarGz, buildpacksSum)
	if err != nil {
		return defaultbuilder.Options{}, failure.New("default builder", failure.Generic, err)
	}
	return defaultbuilder.Options{
		Store:      iio.Store(),
		Buildpacks: bps,
		BuildStack: func(ctx context.Context, s *stack.Stack) (*stack.Images, error) {
			return buildStack(ctx, s, cache, false, log)
		},
		WorkDir: filepath.Join(cache, "work"),
		Version: version,
		Log:     log,
	}, nil
}
