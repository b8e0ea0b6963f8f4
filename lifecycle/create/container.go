package create

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/kiln-build/kiln/lifecycle/failure"
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

// phase runs `kiln phase <name> args...` in the build container. A
// non-zero exit becomes the phase's failure, with the message the phase
// left in errFile and its exit code kept within the phase's band.
func (c containerBase) phase(ctx context.Context, name string, args []string, out buildOutput, errFile string) error {
	argv := append([]string{KilnBinPath, "phase", name}, args...)
	code, err := c.run(ctx, name, append(argv, c.args...))
	if err != nil {
		return failure.New(name, failure.SandboxUnavailable, err)
	}
	if code == 0 {
		return nil
	}
	msg := fmt.Sprintf("the %s phase failed with exit code %d (see the output above)", name, code)
	if s := out.errorText(errFile); s != "" {
		msg = s
	}
	switch {
	case name == "detect" && code != failure.DetectNoGroup && code != failure.DetectError:
		code = failure.DetectError
	case name == "build" && code != failure.BuildpackFailed:
		code = failure.BuildError
	}
	return failure.New(name, code, errors.New(msg))
}

func (c containerBase) run(ctx context.Context, phase string, args []string) (int, error) {
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
		Stdout:   c.log,
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
