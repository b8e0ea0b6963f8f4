package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/sandbox"
)

// version is set at link time.
var version = "dev"

func main() {
	// First: in the copy of kiln a build container's supervisor runs in,
	// this supervises and exits.
	sandbox.Supervise()
	ctx, stop := onInterrupt(context.Background(), func() {
		fmt.Fprintln(os.Stderr, "kiln: interrupted again; quitting without cleaning up")
		os.Exit(failure.Interrupted)
	})
	app := newApp()
	err := app.RunContext(ctx, interspersed(app, os.Args))
	interrupted := stop()
	if err != nil {
		if msg := message(err, interrupted); msg != "" {
			fmt.Fprintf(os.Stderr, "kiln: %s\n", msg)
		}
		code := exitCode(err)
		if interrupted {
			code = failure.Interrupted
		}
		os.Exit(code)
	}
}

func newApp() *cli.App {
	app := &cli.App{
		Name:                 "kiln",
		Usage:                "build OCI images from source with Cloud Native Buildpacks, no daemon needed",
		Version:              version,
		EnableBashCompletion: true,
		Commands: []*cli.Command{
			withDefaultBuilder(buildCommand()),
			withDefaultBuilderCommand(builderCommand()),
			buildpackCommand(),
			imagesCommand(),
			inspectCommand(),
			runCommand(),
			rebaseCommand(),
			rmCommand(),
			pruneCommand(),
			phaseCommand(),
			stackCommand(),
			serveCommand(),
			serveHookCommand(),
		},
		// An unknown command is a usage error (exit 2), said in one line.
		CommandNotFound: func(c *cli.Context, name string) {
			fmt.Fprintf(c.App.ErrWriter, "kiln: unknown command %q (kiln --help lists them)\n", name)
			os.Exit(failure.InvalidInput)
		},
	}
	app.OnUsageError = onUsageError("")
	for _, c := range app.Commands {
		setUsageErrors(c, "kiln "+c.Name)
	}
	return app
}

// setUsageErrors makes a bad flag of c and its subcommands a usage error
// (exit 2) that names the help to read, instead of urfave/cli's help dump
// and exit 1.
func setUsageErrors(c *cli.Command, path string) {
	c.OnUsageError = onUsageError(path)
	for _, sub := range c.Subcommands {
		setUsageErrors(sub, path+" "+sub.Name)
	}
}

func onUsageError(path string) cli.OnUsageErrorFunc {
	return func(_ *cli.Context, err error, _ bool) error {
		if path == "" {
			return usageError("%v (kiln --help lists the flags)", err)
		}
		return usageError("%v (%s --help lists the flags)", err, path)
	}
}

// usageError marks bad flags or arguments.
func usageError(format string, a ...any) error {
	return failure.New("", failure.InvalidInput, fmt.Errorf(format, a...))
}

// exitCode maps err to kiln's exit code: failure.Interrupted when a
// cancelled context ended it, whatever phase it happened in; else the code
// err carries (see package failure).
func exitCode(err error) int {
	if errors.Is(err, context.Canceled) {
		return failure.Interrupted
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) && failure.Code(err) == failure.Generic {
		return ec.ExitCode()
	}
	return failure.Code(err)
}

// message is the line kiln ends with for err: for a build stopped by a
// signal, that it was interrupted rather than what cancelling it broke.
func message(err error, interrupted bool) string {
	switch {
	case errors.Is(err, context.Canceled):
		return "interrupted"
	case interrupted:
		return "interrupted: " + err.Error()
	}
	return err.Error()
}
