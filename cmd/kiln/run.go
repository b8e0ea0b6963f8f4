package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/lifecycle/builder"
	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/labels"
	"github.com/kiln-build/kiln/lifecycle/sandbox"
	"github.com/kiln-build/kiln/stacks/debian/accounts"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run an image in a runc container on the host network, printing its output",
		ArgsUsage: "NAME [-- ARGS...]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "process", Aliases: []string{"p"}, Usage: "process type to start instead of the default"},
			&cli.StringFlag{Name: "platform", Usage: "run the image of this platform (os/arch[/variant]) of an image index; a foreign one runs under qemu user emulation (default: the host's)"},
			&cli.StringFlag{Name: "entrypoint", Usage: "program to start instead of the image's entrypoint"},
			&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "env var KEY=VALUE for the app (repeatable)"},
			&cli.StringFlag{Name: "runtime", Value: "runc", Usage: "OCI runtime (runc, crun, runsc)", EnvVars: []string{"KILN_RUNTIME"}},
			&cli.StringFlag{Name: "network", Value: sandbox.NetworkHost, Usage: "the app's network: host (reachable on this host's ports, as with docker run --network host), slirp (own namespace, outbound only) or none"},
		},
		Action: runRun,
	}
}

func runRun(c *cli.Context) error {
	if c.NArg() < 1 {
		return usageError("run: name an image")
	}
	iio, cache, err := setup()
	if err != nil {
		return err
	}
	loc, err := imageio.ParseSource(c.Args().First())
	if err != nil {
		return usageError("run: %v", err)
	}
	img, err := openForPlatform(c, iio, loc)
	if err != nil {
		return failure.New("run", failure.Generic, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return failure.New("run", failure.Generic, err)
	}
	rootfs, err := builder.Unpack(c.Context, img, filepath.Join(cache, "rootfs"), c.App.ErrWriter)
	if err != nil {
		return failure.New("run", failure.Generic, err)
	}
	args := append([]string(nil), cfg.Config.Entrypoint...)
	if p := c.String("process"); p != "" {
		if err := checkProcess(cfg, p); err != nil {
			return usageError("run: %v", err)
		}
		args = []string{"/cnb/process/" + p}
	}
	if e := c.String("entrypoint"); e != "" {
		args = []string{e}
	}
	user := c.Args().Tail()
	if len(user) > 0 && user[0] == "--" {
		user = user[1:]
	}
	if len(user) > 0 {
		args = append(args, user...)
	} else {
		args = append(args, cfg.Config.Cmd...)
	}
	if len(args) == 0 {
		return usageError("run: the image has no entrypoint or command; give one after --")
	}
	uid, gid, err := imageUser(rootfs, cfg.Config.User)
	if err != nil {
		return failure.New("run", failure.Generic, err)
	}
	env := append([]string(nil), cfg.Config.Env...)
	for _, kv := range c.StringSlice("env") {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return usageError("run: --env %q: want KEY=VALUE", kv)
		}
		env = append(env, kv)
	}
	cwd := cfg.Config.WorkingDir
	if cwd == "" {
		cwd = "/"
	}
	code, err := sandbox.Run(c.Context, sandbox.Config{
		Runtime: c.String("runtime"),
		Network: c.String("network"),
		RootFS:  rootfs,
		Args:    args,
		Env:     env,
		Cwd:     cwd,
		UID:     uid,
		GID:     gid,
		Stdin:   os.Stdin,
		Stdout:  c.App.Writer,
		Stderr:  c.App.ErrWriter,
	})
	if err != nil {
		return failure.New("run", failure.SandboxUnavailable, err)
	}
	if code != 0 {
		return cli.Exit("", code)
	}
	return nil
}

// imageUser resolves an image config User ("uid[:gid]" or
// "name[:group]") against the image's /etc/passwd and /etc/group. A
// numeric user missing from passwd runs with its uid as gid.
func imageUser(rootfs, user string) (uint32, uint32, error) {
	if user == "" {
		return 0, 0, nil
	}
	u, g, hasGroup := strings.Cut(user, ":")
	passwd, err := readAccounts(rootfs, "passwd", accounts.ParsePasswd)
	if err != nil {
		return 0, 0, err
	}
	uid, gid := -1, -1
	n, numeric := strconv.Atoi(u)
	for _, e := range passwd {
		if (numeric == nil && e.UID == n) || e.Name == u {
			uid, gid = e.UID, e.GID
			break
		}
	}
	if uid < 0 {
		if numeric != nil {
			return 0, 0, fmt.Errorf("image user %q: not in the image's /etc/passwd", user)
		}
		uid, gid = n, n
	}
	if hasGroup {
		if n, err := strconv.Atoi(g); err == nil {
			gid = n
		} else {
			groups, err := readAccounts(rootfs, "group", accounts.ParseGroup)
			if err != nil {
				return 0, 0, err
			}
			gid = -1
			for _, e := range groups {
				if e.Name == g {
					gid = e.GID
				}
			}
			if gid < 0 {
				return 0, 0, fmt.Errorf("image group %q: not in the image's /etc/group", g)
			}
		}
	}
	return uint32(uid), uint32(gid), nil
}

// readAccounts parses the image's /etc/<file>; a missing file is empty.
func readAccounts[T any](rootfs, file string, parse func([]byte) ([]T, error)) ([]T, error) {
	b, err := os.ReadFile(filepath.Join(rootfs, "etc", file))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parse(b)
}

// checkProcess says, before anything runs, when the image declares no
// process of type p, naming the types it declares.
func checkProcess(cfg *v1.ConfigFile, p string) error {
	var bm labels.Build
	ok, err := labels.Decode(cfg, labels.BuildMetadata, &bm)
	if err != nil || !ok {
		return nil // not a CNB app image: let the runtime say
	}
	var types []string
	for _, proc := range bm.Processes {
		if proc.Type == p {
			return nil
		}
		types = append(types, proc.Type)
	}
	if len(types) == 0 {
		return fmt.Errorf("--process %s: the image declares no process types", p)
	}
	return fmt.Errorf("--process %s: the image has no such process type; it declares %s", p, strings.Join(types, ", "))
}
