package main

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-build/kiln/lifecycle/failure"
)

func TestOnInterrupt(t *testing.T) {
	forced := make(chan struct{}, 1)
	ctx, stop := onInterrupt(context.Background(), func() { forced <- struct{}{} })
	defer stop()
	if ctx.Err() != nil {
		t.Fatal("context done before any signal")
	}
	for i, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		if err := syscall.Kill(syscall.Getpid(), sig); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("first signal did not cancel the context")
			}
			if !errors.Is(ctx.Err(), context.Canceled) {
				t.Errorf("ctx.Err() = %v", ctx.Err())
			}
			continue
		}
		select {
		case <-forced:
		case <-time.After(5 * time.Second):
			t.Fatal("second signal did not force")
		}
	}
	if !stop() {
		t.Error("stop reports no interrupt")
	}
}

func TestOnInterruptStop(t *testing.T) {
	ctx, stop := onInterrupt(context.Background(), func() { t.Error("forced") })
	if stop() {
		t.Error("stop reports an interrupt that did not happen")
	}
	if ctx.Err() == nil {
		t.Error("stop left the context running")
	}
	stop() // a second stop is harmless
}

func TestExitCodeAndMessage(t *testing.T) {
	boom := errors.New("boom")
	sandboxCancel := failure.New("build", failure.SandboxUnavailable, fmt.Errorf("sandbox: %w", context.Canceled))
	for _, tc := range []struct {
		name        string
		err         error
		interrupted bool
		code        int
		msg         string
	}{
		{"plain", boom, false, failure.Generic, "boom"},
		{"phase", failure.New("export", failure.ExportError, boom), false, failure.ExportError, "export: boom"},
		{"cancelled in sandbox", sandboxCancel, true, failure.Interrupted, "interrupted"},
		{"cancelled in export", failure.New("export", failure.ExportError, fmt.Errorf("writing: %w", context.Canceled)), true, failure.Interrupted, "interrupted"},
		{"cancelled bare", context.Canceled, false, failure.Interrupted, "interrupted"},
		{"timed out", failure.New("build", failure.TimedOut, context.DeadlineExceeded), false, failure.TimedOut, "build: context deadline exceeded"},
		{"other error after a signal", failure.New("export", failure.ExportError, boom), true, failure.ExportError, "interrupted: export: boom"},
	} {
		if got := exitCode(tc.err); got != tc.code {
			t.Errorf("%s: exitCode = %d, want %d", tc.name, got, tc.code)
		}
		if got := message(tc.err, tc.interrupted); got != tc.msg {
			t.Errorf("%s: message = %q, want %q", tc.name, got, tc.msg)
		}
	}
}
