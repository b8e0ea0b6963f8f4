package progrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"syscall"
	"time"

	"github.com/kiln-build/kiln/internal/linewriter"
)

// Exit says how a program that failed ended: its exit code, and the
// signal that killed it, if one did.
type Exit struct {
	Code   int
	Signal string
}

// Cmd is a program to run.
type Cmd struct {
	Bin  string
	Args []string
	Dir  string
	Env  []string
	// Output gets stdout and stderr, each line behind Prefix.
	Output io.Writer
	Prefix string
}

// Run runs c. A program that ran and failed is a non-nil *Exit with a nil
// error; the context ending, a program that cannot start or output that
// cannot be written is an error naming the program.
func Run(ctx context.Context, c Cmd) (*Exit, error) {
	out := linewriter.New(c.Output, c.Prefix)
	cmd := exec.CommandContext(ctx, c.Bin, c.Args...)
	cmd.Dir = c.Dir
	cmd.Env = c.Env
	cmd.Stdout = out // one writer for both: exec copies them in one goroutine
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// kill the whole process group: shells leave children behind
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	if ferr := out.Flush(); ferr != nil && err == nil {
		return nil, fmt.Errorf("writing output of %s: %w", c.Bin, ferr)
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("running %s: %w", c.Bin, ctx.Err())
		}
		e := &Exit{Code: exitErr.ExitCode()}
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			e.Signal = ws.Signal().String()
		}
		return e, nil
	}
	if err != nil {
		return nil, fmt.Errorf("running %s: %w", c.Bin, err)
	}
	return nil, nil
}
