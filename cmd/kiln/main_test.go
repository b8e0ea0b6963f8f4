package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/lifecycle/failure"
)

// A bad flag anywhere is a usage error: exit 2, one line naming the help
// to read.
func TestBadFlagsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"kiln", "--nope"},
		{"kiln", "build", "--nope", "x"},
		{"kiln", "builder", "default", "--nope"},
		{"kiln", "rebase", "--pids-limit", "x"},
	} {
		app := newApp()
		app.Writer, app.ErrWriter = io.Discard, io.Discard
		err := app.RunContext(context.Background(), args)
		if got := exitCode(err); got != failure.InvalidInput {
			t.Errorf("%q: exit %d (%v), want %d", args, got, err, failure.InvalidInput)
		}
		if err == nil || !strings.Contains(err.Error(), "--help lists the flags") {
			t.Errorf("%q: error %v does not point at the help", args, err)
		}
	}
}
