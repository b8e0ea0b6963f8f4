package detect

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kiln-build/kiln/internal/env"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// DefaultMaxOutput is how much of a bin/detect's output ProcessExecutor
// keeps by default.
const DefaultMaxOutput = 1 << 20

// ProcessExecutor runs <buildpack>/bin/detect as a child process
// (buildpack.md §Detection, §Environment):
//
//   - working directory: the app dir;
//   - environment: BaseEnv (default os.Environ()) as it is; HOME, HOSTNAME and the proxy
//     variables from HostEnv (env.PassThrough); the user's
//     <platform>/env/ files unless the buildpack sets clear-env (path-like
//     variables prepended, others overridden); the operator's
//     <build-config>/env/ files; then CNB_BUILD_PLAN_PATH (a fresh, empty
//     file per run), CNB_BUILDPACK_DIR, CNB_PLATFORM_DIR, CNB_EXEC_ENV and
//     the known CNB_TARGET_* values, which nothing overrides;
//   - arguments: <platform> and <plan>, the positional form Buildpack API
//     0.7 still reads;
//   - exit code 0 passes (the plan file is then read with
//     descriptor.ReadBuildPlan), 100 fails, anything else is an error.
//
// An image extension (image_extension.md, Detection) gets
// CNB_EXTENSION_DIR instead of CNB_BUILDPACK_DIR; without bin/detect it
// passes, its detect/plan.toml (if any) being its plan; a plan with
// [[requires]] is an error, as extensions only provide.
//
// The zero value is ready to use.
type ProcessExecutor struct {
	// BaseEnv is the build image's environment ("NAME=value"). When nil,
	// the process's own environment (os.Environ) is used: inside the build
	// container, where kiln drives the phases, that is the build image's.
	BaseEnv []string
	// HostEnv is the lifecycle's own environment; only env.PassThrough's
	// variables are taken from it.
	HostEnv []string
	// TempDir holds the per-run plan files; os.TempDir() when empty.
	TempDir string
	// MaxOutput caps the output kept per run; DefaultMaxOutput when 0.
	MaxOutput int
	// WaitDelay is how long to wait for the output to close after the
	// process exited or was killed; 10s when 0.
	WaitDelay time.Duration
}

var _ Executor = (*ProcessExecutor)(nil)

// Detect runs bp's bin/detect.
func (e *ProcessExecutor) Detect(ctx context.Context, bp *descriptor.Buildpack, in Inputs) (Outcome, error) {
	if err := ctx.Err(); err != nil {
		return Outcome{}, err
	}
	bin := filepath.Join(bp.Dir, "bin", "detect")
	if fi, err := os.Stat(bin); err != nil || !fi.Mode().IsRegular() {
		if bp.IsExtension() && errors.Is(err, fs.ErrNotExist) {
			return staticExtensionDetect(bp), nil
		}
		return Outcome{Status: Error, ExitCode: -1, Err: fmt.Errorf("%s: no bin/detect executable", bin)}, nil
	}
	planDir, err := os.MkdirTemp(e.TempDir, "detect-plan-")
	if err != nil {
		return Outcome{}, fmt.Errorf("creating build plan directory for %s: %w", bp.Ref(), err)
	}
	defer os.RemoveAll(planDir)
	planPath := filepath.Join(planDir, "plan.toml")
	if err := os.WriteFile(planPath, nil, 0o600); err != nil {
		return Outcome{}, fmt.Errorf("creating build plan %s for %s: %w", planPath, bp.Ref(), err)
	}

	environ, err := e.environ(bp, in, planPath)
	if err != nil {
		// unreadable env files are the platform's problem, not the buildpack's
		return Outcome{}, fmt.Errorf("preparing the environment of %s: %w", bin, err)
	}

	out := &limitedBuffer{max: e.MaxOutput}
	if out.max == 0 {
		out.max = DefaultMaxOutput
	}
	cmd := exec.CommandContext(ctx, bin, in.PlatformDir, planPath)
	cmd.Dir = in.AppDir
	cmd.Env = environ
	cmd.Stdout = out // the same writer for both: one pipe, interleaved output
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// kill the whole process group: shells leave children behind
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = e.WaitDelay
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = 10 * time.Second
	}
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return Outcome{}, fmt.Errorf("running %s: %w", bin, ctx.Err())
	}
	o := Outcome{Output: out.Bytes()}
	var exitErr *exec.ExitError
	switch {
	case runErr == nil:
		o.ExitCode = CodePass
	case errors.As(runErr, &exitErr):
		o.ExitCode = exitErr.ExitCode()
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			o.Status, o.Err = Error, fmt.Errorf("bin/detect was killed by signal %s", ws.Signal())
			return o, nil
		}
	default:
		o.Status, o.ExitCode, o.Err = Error, -1, fmt.Errorf("running %s: %w", bin, runErr)
		return o, nil
	}
	switch o.ExitCode {
	case CodePass:
		plan, err := descriptor.ReadBuildPlan(planPath, bp.API)
		if err != nil {
			o.Status, o.Err = Error, fmt.Errorf("build plan of %s: %w", bp.Ref(), err)
			return o, nil
		}
		if err := checkExtensionPlan(bp, plan); err != nil {
			o.Status, o.Err = Error, err
			return o, nil
		}
		o.Status, o.Plan = Pass, plan
	case CodeFail:
		o.Status = Fail
	default:
		o.Status, o.Err = Error, fmt.Errorf("bin/detect exited with code %d", o.ExitCode)
	}
	return o, nil
}

// environ assembles bin/detect's environment.
func (e *ProcessExecutor) environ(bp *descriptor.Buildpack, in Inputs, planPath string) ([]string, error) {
	base := e.BaseEnv
	if base == nil {
		base = os.Environ()
	}
	ev := env.New(base)
	for _, kv := range env.PassThrough(e.HostEnv) {
		name, value, _ := strings.Cut(kv, "=")
		ev.Set(name, value)
	}
	if !bp.Buildpack.ClearEnv && in.PlatformDir != "" {
		if err := ev.ApplyPlatformDir(filepath.Join(in.PlatformDir, "env")); err != nil {
			return nil, err
		}
	}
	if in.BuildConfigDir != "" {
		if err := ev.ApplyEnvDirs(env.Default, filepath.Join(in.BuildConfigDir, "env")); err != nil {
			return nil, err
		}
	}
	execEnv := in.ExecEnv
	if execEnv == "" {
		execEnv = DefaultExecEnv
	}
	ev.Set("CNB_BUILD_PLAN_PATH", planPath)
	if bp.IsExtension() {
		ev.Unset("CNB_BUILDPACK_DIR")
		ev.Set("CNB_EXTENSION_DIR", bp.Dir)
	} else {
		ev.Set("CNB_BUILDPACK_DIR", bp.Dir)
	}
	ev.Set("CNB_PLATFORM_DIR", in.PlatformDir)
	ev.Set("CNB_EXEC_ENV", execEnv)
	in.Target.SetEnv(ev.Set, ev.Unset)
	return ev.Environ(), nil
}

// limitedBuffer keeps the first max bytes written to it and notes that
// more was cut.
type limitedBuffer struct {
	mu        sync.Mutex
	max       int
	buf       []byte
	truncated bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := b.max - len(b.buf)
	if room >= len(p) {
		b.buf = append(b.buf, p...)
	} else {
		if room > 0 {
			b.buf = append(b.buf, p[:room]...)
		}
		b.truncated = true
	}
	return len(p), nil
}

// Bytes returns what was kept, with a note when output was cut.
func (b *limitedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := append([]byte(nil), b.buf...)
	if b.truncated {
		out = append(out, fmt.Sprintf("\n[output truncated after %d bytes]\n", b.max)...)
	}
	return out
}

// staticExtensionDetect is the outcome of an image extension without
// bin/detect (image_extension.md, Detection): it passes, with the build
// plan in its detect/plan.toml when it has one.
func staticExtensionDetect(bp *descriptor.Buildpack) Outcome {
	o := Outcome{Status: Pass, ExitCode: CodePass}
	p := filepath.Join(bp.Dir, "detect", "plan.toml")
	plan, err := descriptor.ReadBuildPlan(p, bp.API)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return o
	case err != nil:
		return Outcome{Status: Error, ExitCode: -1, Err: fmt.Errorf("build plan of extension %s: %w", bp.Ref(), err)}
	}
	if err := checkExtensionPlan(bp, plan); err != nil {
		return Outcome{Status: Error, ExitCode: -1, Err: err}
	}
	o.Plan = plan
	return o
}

// checkExtensionPlan refuses requires in an image extension's build plan:
// extensions only provide.
func checkExtensionPlan(bp *descriptor.Buildpack, plan descriptor.BuildPlan) error {
	if !bp.IsExtension() {
		return nil
	}
	for _, alt := range plan.Alternatives() {
		if len(alt.Requires) > 0 {
			return fmt.Errorf("extension %s: its build plan has [[requires]] %q; image extensions may only provide", bp.Ref(), alt.Requires[0].Name)
		}
	}
	return nil
}
