package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/lifecycle/failure"
)

// version is set at link time.
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	app := newApp()
	err := app.RunContext(ctx, interspersed(app, os.Args))
	stop()
	if err != nil {
		if msg := err.Error(); msg != "" {
			fmt.Fprintf(os.Stderr, "kiln: %s\n", msg)
		}
		os.Exit(exitCode(err))
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
			phaseCommand(),
			stackCommand(),
		},
	}
}

// usageError marks bad flags or arguments.
func usageError(format string, a ...any) error {
	return failure.New("", failure.InvalidInput, fmt.Errorf(format, a...))
}

func exitCode(err error) int {
	var ec cli.ExitCoder
	if errors.As(err, &ec) && failure.Code(err) == failure.Generic {
		return ec.ExitCode()
	}
	return failure.Code(err)
}
