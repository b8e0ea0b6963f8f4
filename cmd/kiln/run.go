package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/lifecycle/builder"
	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/sandbox"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run an image in a runc container on the host network, printing its output",
		ArgsUsage: "NAME [-- ARGS...]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "process", Aliases: []string{"p"}, Usage: "process type to start instead of the default"},
			&cli.StringFlag{Name: "entrypoint", Usage: "program to start instead of the image's entrypoint"},
			&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "env var KEY=VALUE for the app (repeatable)"},
			&cli.StringFlag{Name: "runtime", Value: "runc", Usage: "OCI runtime (runc, crun, runsc)", EnvVars: []string{"KILN_RUNTIME"}},
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
	img, err := iio.Open(c.Context, loc, true)
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

// imageUser resolves an image config User ("uid[:gid]" or "name[:group]")
// against the image's /etc/passwd and /etc/group.
func imageUser(rootfs, user string) (uint32, uint32, error) {
	if user == "" {
		return 0, 0, nil
	}
	u, g, hasGroup := strings.Cut(user, ":")
	uid, gid, err := lookupID(filepath.Join(rootfs, "etc", "passwd"), u, true)
	if err != nil {
		return 0, 0, fmt.Errorf("image user %q: %w", user, err)
	}
	if hasGroup {
		if gid, _, err = lookupID(filepath.Join(rootfs, "etc", "group"), g, false); err != nil {
			return 0, 0, fmt.Errorf("image group %q: %w", g, err)
		}
	}
	return uid, gid, nil
}

// lookupID returns the id of name (or name itself when numeric) from a
// passwd- or group-style file, and for passwd the primary gid.
func lookupID(file, name string, passwd bool) (uint32, uint32, error) {
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		id := uint32(n)
		gid := id
		if passwd {
			// A numeric user takes its primary group from passwd if listed.
			if f, err := os.Open(file); err == nil {
				defer f.Close()
				sc := bufio.NewScanner(f)
				for sc.Scan() {
					parts := strings.Split(sc.Text(), ":")
					if len(parts) > 3 && parts[2] == name {
						if g, err := strconv.ParseUint(parts[3], 10, 32); err == nil {
							gid = uint32(g)
						}
					}
				}
			}
		}
		return id, gid, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Split(sc.Text(), ":")
		if len(parts) < 3 || parts[0] != name {
			continue
		}
		id, err := strconv.ParseUint(parts[2], 10, 32)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: bad id for %s", file, name)
		}
		gid := id
		if passwd && len(parts) > 3 {
			if g, err := strconv.ParseUint(parts[3], 10, 32); err == nil {
				gid = g
			}
		}
		return uint32(id), uint32(gid), nil
	}
	return 0, 0, fmt.Errorf("%s has no entry %q", file, name)
}
