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
			sbomCommand(),
			runCommand(),
			rebaseCommand(),
			fleetCommand(),
			rmCommand(),
			pruneCommand(),
			phaseCommand(),
			stackCommand(),
			serveCommand(),
			serveHookCommand(),
			signCommand(),
			verifyCommand(),
			keyCommand(),
		},
		// An unknown command is a usage error (exit 2), said in one line.
		CommandNotFound: func(c *cli.Context, name string) {
			hint := "kiln --help lists them"
			if n := nearestCommand(name, c.App.Commands); n != "" {
				hint = fmt.Sprintf("did you mean %q? kiln --help lists them", n)
			}
			fmt.Fprintf(c.App.ErrWriter, "kiln: unknown command %q (%s)\n", name, hint)
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

// nearestCommand is the visible command whose name (or alias) is closest
// to name, when it is close enough to be a typo: at most a third of its
// letters differ. "" otherwise.
func nearestCommand(name string, cmds []*cli.Command) string {
	best, bestD := "", len(name)/3+1
	for _, c := range cmds {
		if c.Hidden {
			continue
		}
		for _, n := range c.Names() {
			if d := editDistance(name, n); d < bestD {
				best, bestD = c.Name, d
			}
		}
	}
	return best
}

// editDistance is the edit distance between a and b where a swap of two
// neighbouring letters counts as one edit (optimal string alignment).
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
