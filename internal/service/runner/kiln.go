package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Spec is one build to run.
type Spec struct {
	// Dir is the source tree.
	Dir string
	// Image is the reference to publish (repo:tag).
	Image string
	// CacheImage is the registry image of the app's layer cache.
	CacheImage string
	// Builder is the builder image; "" is kiln's default builder.
	Builder string
	// RunImageRepo is where a run image that is only local is published.
	RunImageRepo string
	// Env are the app's build-time variables.
	Env map[string]string
	// Timeout stops a build that runs longer; zero is none.
	Timeout time.Duration
	// SignKey, when set, is the cosign private key file the published
	// image is signed and attested with (its password in the
	// environment's COSIGN_PASSWORD).
	SignKey string
	// Rebase makes the run a `kiln rebase` of Image onto the newest
	// digest of the run image it records, instead of a build (Dir, Env,
	// Builder and the cache are then unused).
	Rebase bool
}

// Phase is one phase of a build and its timing.
type Phase struct {
	Name     string        `json:"name"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`
}

// Report is how a build ended, as `kiln build --report` writes it.
type Report struct {
	Image    string  `json:"image,omitempty"`
	Digest   string  `json:"digest,omitempty"`
	Phase    string  `json:"phase,omitempty"`
	ExitCode int     `json:"exit_code"`
	Message  string  `json:"message,omitempty"`
	Phases   []Phase `json:"phases"`
}

// Kiln runs builds with the kiln binary.
type Kiln struct {
	// Binary is the kiln executable.
	Binary string
	// Grace is how long a cancelled build has to clean up after SIGINT
	// before it is killed; zero means 30 s.
	Grace time.Duration
	// Args are added to every kiln build (e.g. --runtime), not to
	// rebases.
	Args []string
}

// Build runs spec, writing kiln's output to log. A build that ran and
// failed is a Report with a non-zero ExitCode, not an error; an error
// means kiln could not be run or said nothing about how it ended.
func (k Kiln) Build(ctx context.Context, spec Spec, log io.Writer) (Report, error) {
	tmp, err := os.MkdirTemp("", "kiln-serve-run-")
	if err != nil {
		return Report{}, err
	}
	defer os.RemoveAll(tmp)
	envFile := filepath.Join(tmp, "env")
	if err := writeEnvFile(envFile, spec.Env); err != nil {
		return Report{}, err
	}
	reportFile := filepath.Join(tmp, "report.json")
	if spec.Rebase {
		return k.runReported(ctx, rebaseArgs(spec, reportFile), reportFile, log)
	}
	// The pushed source is a stranger's: its project.toml may not pick
	// the builder (the app's, or kiln's default, is used).
	args := []string{"build", spec.Image, "--path", spec.Dir, "--publish", "--report", reportFile, "--env-file", envFile, "--no-project-builder", "--untrusted-source"}
	if spec.CacheImage != "" {
		args = append(args, "--cache-image", spec.CacheImage)
	}
	if spec.Builder != "" {
		args = append(args, "--builder", spec.Builder)
	}
	if spec.RunImageRepo != "" {
		args = append(args, "--run-image-repo", spec.RunImageRepo)
	}
	if spec.Timeout > 0 {
		args = append(args, "--timeout", spec.Timeout.String())
	}
	if spec.SignKey != "" {
		args = append(args, "--sign-key", spec.SignKey)
	}
	return k.runReported(ctx, append(args, k.Args...), reportFile, log)
}

// rebaseArgs are kiln rebase's arguments for spec.
func rebaseArgs(spec Spec, reportFile string) []string {
	args := []string{"rebase", spec.Image, "--publish", "--report", reportFile}
	if spec.SignKey != "" {
		args = append(args, "--sign-key", spec.SignKey)
	}
	return args
}

// runReported runs kiln with args and reads the report it wrote to
// reportFile.
func (k Kiln) runReported(ctx context.Context, args []string, reportFile string, log io.Writer) (Report, error) {
	code, err := k.run(ctx, args, log)
	if err != nil {
		return Report{}, err
	}
	data, err := os.ReadFile(reportFile)
	if err != nil {
		return Report{}, fmt.Errorf("kiln build exited %d without a report: %w", code, err)
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return Report{}, fmt.Errorf("reading kiln build's report: %w", err)
	}
	if r.ExitCode == 0 && code != 0 {
		r.ExitCode = code
	}
	return r, nil
}

// run runs kiln with args and returns its exit code. Cancelling ctx
// sends SIGINT, then SIGKILL after the grace period. The subprocess is in
// a process group of its own (a ^C at kiln serve's terminal is kiln
// serve's to handle) and gets SIGINT when kiln serve dies.
func (k Kiln) run(ctx context.Context, args []string, log io.Writer) (int, error) {
	grace := k.Grace
	if grace == 0 {
		grace = 30 * time.Second
	}
	cmd := exec.CommandContext(ctx, k.Binary, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = grace
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGINT}
	// The parent-death signal follows the thread that started the
	// child: keep that thread until the child is gone.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	case errors.Is(err, exec.ErrWaitDelay):
		return cmd.ProcessState.ExitCode(), nil
	}
	return 0, fmt.Errorf("running kiln build: %w", err)
}

// writeEnvFile writes env as KEY=VALUE lines, readable by this user alone
// (values may be secrets: they stay off the command line).
func writeEnvFile(p string, env map[string]string) error {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + env[k] + "\n")
	}
	return os.WriteFile(p, []byte(b.String()), 0o600)
}
