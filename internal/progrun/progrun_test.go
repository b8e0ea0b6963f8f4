package progrun

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	ctx := context.Background()
	var out bytes.Buffer
	exit, err := Run(ctx, Cmd{Bin: "/bin/sh", Args: []string{"-c", "echo one; echo two >&2; printf three"}, Output: &out, Prefix: "[p] "})
	if exit != nil || err != nil {
		t.Fatalf("Run = %+v, %v", exit, err)
	}
	if got, want := out.String(), "[p] one\n[p] two\n[p] three\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}

	exit, err = Run(ctx, Cmd{Bin: "/bin/sh", Args: []string{"-c", "exit 7"}, Output: &out})
	if err != nil || exit == nil || exit.Code != 7 || exit.Signal != "" {
		t.Errorf("exit 7: %+v, %v", exit, err)
	}
	exit, err = Run(ctx, Cmd{Bin: "/bin/sh", Args: []string{"-c", "kill -TERM $$"}, Output: &out})
	if err != nil || exit == nil || exit.Signal != "terminated" {
		t.Errorf("killed: %+v, %v", exit, err)
	}
	if _, err := Run(ctx, Cmd{Bin: "/nonexistent/prog", Output: &out}); err == nil || !strings.Contains(err.Error(), "/nonexistent/prog") {
		t.Errorf("missing program: %v", err)
	}

	// the context ending kills the whole group, a background child too
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = Run(cctx, Cmd{Bin: "/bin/sh", Args: []string{"-c", "sleep 30 & sleep 30"}, Output: &out})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout: %v", err)
	}
	if d := time.Since(start); d > 9*time.Second {
		t.Errorf("took %s: the group was not killed", d)
	}
}
