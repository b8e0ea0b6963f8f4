package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	units "github.com/docker/go-units"
	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/internal/service"
	"github.com/kiln-build/kiln/internal/service/runner"
	"github.com/kiln-build/kiln/internal/service/serve"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run the build service: git push, webhooks and an API in, images out",
		Description: "kiln serve builds what is pushed to it (git push http://kiln:TOKEN@HOST/git/APP.git main),\n" +
			"what git hosts' webhooks name and what its API is given, each build in kiln build's sandbox,\n" +
			"and publishes REGISTRY_PREFIX/APP:latest. It keeps its state in SQLite under --data, or in\n" +
			"PostgreSQL (--database), which any number of kiln serve processes can share.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8080", Usage: "HTTP address of the API, web page, git pushes and webhooks"},
			&cli.BoolFlag{Name: "no-http", Usage: "serve no HTTP: a pure worker (with --database postgres://...)"},
			&cli.StringFlag{Name: "data", Usage: "data dir: SQLite database, git repositories, admin token (default: $XDG_DATA_HOME/kiln/serve)"},
			&cli.StringFlag{Name: "database", Usage: "postgres://... URL of a PostgreSQL database shared by kiln serve processes (default: SQLite in --data)", EnvVars: []string{"KILN_DATABASE"}},
			&cli.StringFlag{Name: "registry-prefix", Usage: "registry and path apps are published under, as PREFIX/APP:latest (cache: PREFIX/APP:cache)", EnvVars: []string{"KILN_REGISTRY_PREFIX"}},
			&cli.StringFlag{Name: "admin-token-file", Usage: "file holding the admin token, created (0600) with a new token when missing (default: DATA/admin-token)"},
			&cli.IntFlag{Name: "workers", Value: 1, Usage: "builds this process runs at once (0: none, an API-only process)"},
			&cli.StringFlag{Name: "max-source-size", Value: "200MiB", Usage: "largest source tarball (upload or pushed tree)"},
			&cli.StringFlag{Name: "max-push-size", Value: "512MiB", Usage: "largest git push"},
			&cli.StringFlag{Name: "max-log-size", Value: "64MiB", Usage: "most of a build's output its log keeps (the rest is left out)"},
			&cli.DurationFlag{Name: "build-timeout", Value: time.Hour, Usage: "stop a build that runs longer (0: no limit)"},
			&cli.DurationFlag{Name: "heartbeat", Value: 5 * time.Second, Usage: "how often a worker records that its build is alive"},
			&cli.DurationFlag{Name: "stale-after", Value: 30 * time.Second, Usage: "a running build whose worker was not heard of for this long is re-queued or failed"},
			&cli.IntFlag{Name: "max-attempts", Value: 2, Usage: "runs of a build whose worker is lost, in all"},
			&cli.BoolFlag{Name: "allow-private-git", Usage: "let builds from git URLs (API, webhooks) clone from loopback, link-local and private addresses (refused by default: the clone runs on the worker's host)"},
		},
		Action: runServe,
	}
}

func runServe(c *cli.Context) error {
	if c.NArg() != 0 {
		return usageError("serve: takes no arguments")
	}
	data := c.String("data")
	if data == "" {
		base := os.Getenv("XDG_DATA_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return fmt.Errorf("finding the data dir: %w", err)
			}
			base = filepath.Join(home, ".local", "share")
		}
		data = filepath.Join(base, "kiln", "serve")
	}
	size := func(flag string) (int64, error) {
		n, err := units.RAMInBytes(c.String(flag))
		if err != nil || n <= 0 {
			return 0, usageError("serve: --%s %q: want a size such as 200MiB", flag, c.String(flag))
		}
		return n, nil
	}
	maxSource, err := size("max-source-size")
	if err != nil {
		return err
	}
	maxPush, err := size("max-push-size")
	if err != nil {
		return err
	}
	maxLog, err := size("max-log-size")
	if err != nil {
		return err
	}
	switch {
	case c.Int("workers") < 0:
		return usageError("serve: --workers must not be negative")
	case c.Bool("no-http") && c.Int("workers") == 0:
		return usageError("serve: --no-http with --workers 0 would do nothing")
	case c.Duration("heartbeat") <= 0 || c.Duration("stale-after") < 2*c.Duration("heartbeat"):
		return usageError("serve: --stale-after must be at least twice --heartbeat")
	case c.Int("max-attempts") < 1:
		return usageError("serve: --max-attempts must be at least 1")
	}
	self, err := selfBinary()
	if err != nil {
		return err
	}
	return serve.Run(c.Context, serve.Config{
		Listen:         c.String("listen"),
		NoHTTP:         c.Bool("no-http"),
		DataDir:        data,
		Database:       c.String("database"),
		AdminTokenFile: c.String("admin-token-file"),
		MaxPushSize:    maxPush,
		Out:            c.App.Writer,
		Service: service.Options{
			RegistryPrefix:  c.String("registry-prefix"),
			Workers:         c.Int("workers"),
			MaxSourceSize:   maxSource,
			MaxLogSize:      maxLog,
			BuildTimeout:    c.Duration("build-timeout"),
			Heartbeat:       c.Duration("heartbeat"),
			StaleAfter:      c.Duration("stale-after"),
			MaxAttempts:     c.Int("max-attempts"),
			AllowPrivateGit: c.Bool("allow-private-git"),
			Builder:         serveBuilder(self),
		},
	})
}

// serveBuilder runs builds as `kiln build` subprocesses of this binary.
func serveBuilder(self string) service.Builder {
	return runner.Kiln{Binary: self, Grace: 30 * time.Second}
}
