package create

import (
	"context"
	"io"
	"sync"

	"github.com/kiln-build/kiln/lifecycle/sandbox"
)

// containerBase holds what every phase container shares.
type containerBase struct {
	sandbox  Sandbox
	log      Log
	runtime  string
	rootfs   string
	uid, gid int
	env      []string
	mounts   []sandbox.Mount
	caBundle string
	tempDir  string
	ids      *sandbox.IDRange
	Isolation
	// args are the arguments every phase takes.
	args []string
	// warnOnce shows the sandbox's notice once a build.
	warnOnce *sync.Once
}

// runTo runs args in a build container; its stdout goes to stdout, its
// stderr to the log.
func (c containerBase) runTo(ctx context.Context, phase string, args []string, stdout io.Writer) (int, error) {
	r := reporter{log: c.log, phase: phase}
	return c.sandbox.Run(ctx, sandbox.Config{
		Runtime:  c.runtime,
		RootFS:   c.rootfs,
		Mounts:   c.mounts,
		Env:      c.env,
		Args:     args,
		Cwd:      AppPath,
		UID:      uint32(c.uid),
		GID:      uint32(c.gid),
		Stdout:   stdout,
		Stderr:   c.log,
		CABundle: c.caBundle,
		TempDir:  c.tempDir,
		IDs:      c.ids,
		Network:  c.Network,
		Limits:   c.Limits,
		Warn: func(notice string) {
			c.warnOnce.Do(func() { r.warn("%s", notice) })
		},
	})
}
