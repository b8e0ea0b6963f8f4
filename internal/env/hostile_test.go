package env

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/internal/testutil"
)

// Env files a build wrote: a FIFO names no variable (and is never waited
// on), an oversized file is an error naming it, not a read of all its
// bytes.
func TestApplyEnvDirsHostileFiles(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "env")
	testutil.WriteFiles(t, root, map[string]string{"env/A.override": "a"})
	if err := syscall.Mkfifo(filepath.Join(dir, "FIFO.override"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	e := New(nil)
	go func() { done <- e.ApplyEnvDirs(Override, dir) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ApplyEnvDirs waits on a FIFO")
	}
	if diff := cmp.Diff([]string{"A=a"}, e.Environ()); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}

	big := filepath.Join(dir, "BIG.override")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxFileSize + 1); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	f.Close()
	err = New(nil).ApplyEnvDirs(Override, dir)
	if err == nil || !strings.Contains(err.Error(), big) || !strings.Contains(err.Error(), "at most") {
		t.Errorf("oversized env file: err = %v, want one naming %s and the limit", err, big)
	}
}
