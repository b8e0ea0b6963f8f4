package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

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
			debianbookworm.Name + " stack (built with mmdebstrap, cached by recipe) and kiln's buildpacks.",
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usageError("builder default: takes no arguments")
			}
			iio, cache, err := setup()
			if err != nil {
				return err
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

// ensureDefaultBuilder returns the name of the default builder in the local
// store, making it first when needed (see package defaultbuilder).
func ensureDefaultBuilder(ctx context.Context, iio *imageio.IO, cache string, log io.Writer) (string, error) {
	bps, err := defaultbuilder.FindBuildpacks(buildpacksTarGz)
	if err != nil {
		return "", failure.New("default builder", failure.Generic, err)
	}
	return defaultbuilder.Ensure(ctx, defaultbuilder.Options{
		Store:      iio.Store(),
		Buildpacks: bps,
		BuildStack: func(ctx context.Context, s *stack.Stack) (*stack.Images, error) {
			return buildStack(ctx, s, cache, false, log)
		},
		WorkDir: filepath.Join(cache, "work"),
		Version: version,
		Log:     log,
	})
}
