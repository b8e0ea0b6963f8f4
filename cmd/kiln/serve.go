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
	"github.com/kiln-build/kiln/lifecycle/sign/cosignkey"
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
			&cli.DurationFlag{Name: "watch-run-images", Value: 5 * time.Minute, Usage: "how often to check the apps' run images and rebase the apps whose run image moved (0: only on POST /api/rebase)"},
			&cli.StringFlag{Name: "sign-key", Usage: "sign and attest (SLSA provenance, SBOM) every app's images with this cosign private key `FILE` (password in $COSIGN_PASSWORD)"},
			&cli.StringFlag{Name: "sign-keys-dir", Usage: "sign an app's images with `DIR`/APP.key when it exists (over --sign-key)"},
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
	case c.Duration("watch-run-images") < 0:
		return usageError("serve: --watch-run-images must not be negative")
	case c.Int("max-attempts") < 1:
		return usageError("serve: --max-attempts must be at least 1")
	}
	self, err := selfBinary()
	if err != nil {
		return err
	}
	signKey, err := serveSignKeys(c.String("sign-key"), c.String("sign-keys-dir"))
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
			SignKey:         signKey,
			WatchRunImages:  c.Duration("watch-run-images"),
		},
	})
}

// serveBuilder runs builds as `kiln build` subprocesses of this binary.
func serveBuilder(self string) service.Builder {
	return runner.Kiln{Binary: self, Grace: 30 * time.Second}
}

// serveSignKeys checks kiln serve's signing keys and returns which key
// signs an app's images: DIR/KEY.key for the key name the app's settings
// hold (signing_key), else DIR/APP.key when the dir has one, else the
// default key (nil when neither flag is given). The default key must
// decrypt now, so a wrong password stops kiln serve rather than every
// build.
func serveSignKeys(def, dir string) (func(app, keyName string) string, error) {
	if def == "" && dir == "" {
		return nil, nil
	}
	if def != "" {
		abs, err := filepath.Abs(def)
		if err != nil {
			return nil, err
		}
		if _, err := cosignkey.LoadPrivateKey(abs, []byte(os.Getenv(cosignkey.PasswordEnv))); err != nil {
			return nil, usageError("serve: --sign-key: %v", err)
		}
		def = abs
	}
	if dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, err
		}
		if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
			return nil, usageError("serve: --sign-keys-dir %s is not a directory", dir)
		}
		dir = abs
	}
	inDir := func(name string) string {
		if dir == "" || !service.ValidSigningKeyName(name) {
			return ""
		}
		p := filepath.Join(dir, name+".key")
		if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
		return ""
	}
	return func(app, key string) string {
		if key != "" {
			if p := inDir(key); p != "" {
				return p
			}
			// a key the app asks for and this server lacks fails its
			// builds, naming the file: never an unsigned image instead
			d := dir
			if d == "" {
				d = "(no --sign-keys-dir)"
			}
			return filepath.Join(d, key+".key")
		}
		if p := inDir(app); p != "" {
			return p
		}
		return def
	}, nil
}
