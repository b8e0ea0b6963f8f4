package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/internal/gitserve"
)

// serveHookCommand is the pre-receive hook of kiln serve's git
// repositories (hidden: git runs it, people do not). Its output goes back
// to the pusher as "remote:" lines; a non-zero exit rejects the push.
func serveHookCommand() *cli.Command {
	return &cli.Command{
		Name:      "serve-hook",
		Usage:     "the git pre-receive hook of kiln serve (run by git)",
		Hidden:    true,
		ArgsUsage: " ",
		Action: func(c *cli.Context) error {
			if code := gitserve.RunHook(c.Context, os.Stdin, os.Stdout, os.Getenv); code != 0 {
				return cli.Exit("", code)
			}
			return nil
		},
	}
}
