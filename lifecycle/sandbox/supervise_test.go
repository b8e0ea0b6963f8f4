package sandbox

import (
	"context"
	"errors"
	"testing"
)

// TestRunNeedsSupervise: without Supervise, Run refuses before it would
// re-execute a program that does not know it is to supervise.
func TestRunNeedsSupervise(t *testing.T) {
	supervised.Store(false)
	defer supervised.Store(true)
	_, err := Run(context.Background(), Config{RootFS: rootfs, Args: []string{"/bin/probe", "exit", "0"}})
	if !errors.Is(err, errNotSupervised) {
		t.Fatalf("Run = %v, want %v", err, errNotSupervised)
	}
}
