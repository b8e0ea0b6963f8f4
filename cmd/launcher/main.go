package main

import (
	"context"
	"fmt"
	"os"
	"syscall"

	"github.com/kiln-build/kiln/lifecycle/failure"
)

func main() {
	spec, err := prepare(context.Background(), os.Args, os.Environ())
	if err == nil {
		err = spec.exec()
	}
	fmt.Fprintf(os.Stderr, "launcher: %v\n", err)
	code := failure.Code(err)
	if code == failure.Generic {
		code = codeFailed // every launcher failure belongs to the launch band
	}
	os.Exit(code)
}

// exec replaces the launcher with the process: same PID, so signals sent to
// the container reach the app itself.
func (s *execSpec) exec() error {
	if err := os.Chdir(s.Dir); err != nil {
		return fail(codeExec, "changing to working directory: %w", err)
	}
	if err := syscall.Exec(s.Path, s.Argv, s.Env); err != nil {
		return fail(codeExec, "executing %s: %w", s.Path, err)
	}
	return nil // not reached
}
