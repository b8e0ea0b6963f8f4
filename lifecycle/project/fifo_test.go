package project

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A source tree may come from a stranger: a project.toml or a .git file
// that is a FIFO (or links to one) is refused at once, not waited on.
func TestFIFOsAreNotWaitedOn(t *testing.T) {
	within := func(t *testing.T, what string, f func()) {
		t.Helper()
		done := make(chan struct{})
		go func() { f(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s waited on a FIFO", what)
		}
	}
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, FileName), 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	within(t, "Read", func() {
		if _, err := Read(filepath.Join(dir, FileName)); err == nil {
			t.Error("a FIFO was read as the project descriptor")
		}
	})
	if err := os.Mkdir(filepath.Join(dir, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, ".git", "HEAD"), 0o644); err != nil {
		t.Fatal(err)
	}
	within(t, "GitSource", func() {
		if s := GitSource(dir); s != nil {
			t.Errorf("GitSource = %+v from a FIFO HEAD", s)
		}
	})
}
