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
	return &cli.App{
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
