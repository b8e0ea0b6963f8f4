package archive

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/internal/testutil"
)

func TestCopyDir(t *testing.T) {
	base := t.TempDir()
	src, dst, outside := filepath.Join(base, "app"), filepath.Join(base, "workspace"), filepath.Join(base, "outside")
	testutil.WriteFile(t, filepath.Join(outside, "secret"), "secret", 0o644)
	testutil.WriteFile(t, filepath.Join(src, "main.go"), "package main", 0o644)
	testutil.WriteFile(t, filepath.Join(src, "run.sh"), "#!/bin/sh", 0o755|fs.ModeSetgid)
	testutil.WriteFile(t, filepath.Join(src, "lib", "util.go"), "package lib", 0o600)
	testutil.WriteFile(t, filepath.Join(src, "lib", "deep", "x"), "x", 0o644)
	if err := os.Link(filepath.Join(src, "main.go"), filepath.Join(src, "main.hard")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(src, "lib"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(src, "ro"), 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, filepath.Join(src, "ro", "f"), "f", 0o444)
	if err := os.Chmod(filepath.Join(src, "ro"), 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(src, "ro"), 0o755); os.Chmod(filepath.Join(dst, "ro"), 0o755) })
	// Symlinks that stay inside are copied; the others are not.
	mustSymlink(t, "main.go", filepath.Join(src, "inside"))
	mustSymlink(t, "../main.go", filepath.Join(src, "lib", "up-inside"))
	mustSymlink(t, "deep", filepath.Join(src, "lib", "dirlink"))
	mustSymlink(t, "not-yet-built", filepath.Join(src, "dangling"))
	mustSymlink(t, "/etc/passwd", filepath.Join(src, "abs"))
	mustSymlink(t, filepath.Join(src, "main.go"), filepath.Join(src, "abs-inside")) // host path: not valid in the workspace
	mustSymlink(t, "../outside/secret", filepath.Join(src, "up"))
	mustSymlink(t, "../app/main.go", filepath.Join(src, "roundabout")) // leaves, then comes back
	mustSymlink(t, "lib/../../outside", filepath.Join(src, "sneaky"))
	mustSymlink(t, "hop", filepath.Join(src, "chain"))
	mustSymlink(t, "lib/dirlink/../../..", filepath.Join(src, "hop"))
	mustSymlink(t, "loop2", filepath.Join(src, "loop1"))
	mustSymlink(t, "loop1", filepath.Join(src, "loop2"))
	if err := syscall.Mkfifo(filepath.Join(src, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(src, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// Distinct times, to check they are kept.
	filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type()&fs.ModeSymlink == 0 && d.Type()&fs.ModeNamedPipe == 0 {
			os.Chtimes(p, time.Unix(1_500_000_000, 0), time.Unix(1_500_000_000+int64(len(p)), 0))
		}
		return nil
	})
	// Something already in dst: a symlink where a file will go.
	testutil.WriteFile(t, filepath.Join(dst, "stale"), "stale", 0o644)
	mustSymlink(t, filepath.Join(outside, "secret"), filepath.Join(dst, "main.go"))

	owner := testOwner()
	skipped := map[string]error{}
	err = CopyDir(context.Background(), src, dst, CopyOptions{
		Owner: &owner,
		OnSkip: func(p string, reason error) error {
			skipped[strings.TrimPrefix(p, src+"/")] = reason
			return nil
		},
	})
	if err != nil {
		t.Fatalf("CopyDir: %v", err)
	}

	wantSkipped := map[string]error{
		"abs": ErrEscapingSymlink, "abs-inside": ErrEscapingSymlink, "up": ErrEscapingSymlink,
		"roundabout": ErrEscapingSymlink, "sneaky": ErrEscapingSymlink, "chain": ErrEscapingSymlink,
		"hop": ErrEscapingSymlink, "loop1": ErrEscapingSymlink, "loop2": ErrEscapingSymlink,
		"fifo": ErrSpecialFile, "sock": ErrSpecialFile,
	}
	if diff := cmp.Diff(sortedKeys(wantSkipped), sortedKeys(skipped)); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
	for name, want := range wantSkipped {
		if got := skipped[name]; got != nil && (!errors.Is(got, want) || !strings.Contains(got.Error(), filepath.Join(src, name))) {
			t.Errorf("%s: reason %q, want %v naming the host path", name, got, want)
		}
	}

	// dst holds exactly src minus the skipped entries (plus what was there),
	// with modes, contents, link targets and times, owned by owner.
	want := snapshot(t, src, true)
	for name := range wantSkipped {
		delete(want, name)
	}
	for name, n := range want {
		n.UID, n.GID = owner.UID, owner.GID
		want[name] = n
	}
	want["stale"] = node{Mode: 0o644, Content: "stale", UID: os.Getuid(), GID: os.Getgid()}
	got := snapshot(t, dst, true)
	got["stale"] = node{Mode: got["stale"].Mode, Content: got["stale"].Content, UID: got["stale"].UID, GID: got["stale"].GID}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("copied tree (-want +got):\n%s", diff)
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "secret")); string(b) != "secret" {
		t.Errorf("outside file changed to %q", b)
	}
	a, _ := os.Stat(filepath.Join(dst, "main.go"))
	b, _ := os.Stat(filepath.Join(dst, "main.hard"))
	if os.SameFile(a, b) {
		t.Error("hardlinked source files were copied as hardlinks")
	}
}

func TestCopyDirOnSkipAborts(t *testing.T) {
	src := t.TempDir()
	mustSymlink(t, "/etc", filepath.Join(src, "etc"))
	stop := errors.New("escaping symlinks are fatal here")
	err := CopyDir(context.Background(), src, t.TempDir(), CopyOptions{
		OnSkip: func(string, error) error { return stop },
	})
	if !errors.Is(err, stop) || !strings.Contains(err.Error(), filepath.Join(src, "etc")) {
		t.Errorf("CopyDir: %v, want the OnSkip error naming %s", err, filepath.Join(src, "etc"))
	}
}

func TestCopyDirErrors(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	src := t.TempDir()
	testutil.WriteFile(t, filepath.Join(src, "f"), "f", 0o644)
	if err := CopyDir(ctx, src, t.TempDir(), CopyOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("CopyDir with a cancelled context: %v", err)
	}
	missing := filepath.Join(src, "missing")
	if err := CopyDir(context.Background(), missing, t.TempDir(), CopyOptions{}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("CopyDir of a missing source: %v, want an error naming it", err)
	}
}

// A sparse source file stays sparse in the copy (a 2 GB disk image must
// not become 2 GB of disk in the workspace), with the same bytes.
func TestCopyDirKeepsSparseFiles(t *testing.T) {
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "out")
	f, err := os.Create(filepath.Join(src, "disk.img"))
	if err != nil {
		t.Fatal(err)
	}
	const size = 256 << 20
	if _, err := f.WriteAt([]byte("head"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("middle"), size/2); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := CopyDir(context.Background(), src, dst, CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dst, "disk.img"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != size {
		t.Fatalf("size %d, want %d", fi.Size(), size)
	}
	if used := fi.Sys().(*syscall.Stat_t).Blocks * 512; used > 1<<20 {
		t.Errorf("the copy takes %d bytes of disk for a sparse file of %d", used, size)
	}
	g, err := os.Open(filepath.Join(dst, "disk.img"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for off, want := range map[int64]string{0: "head", size / 2: "middle", size - 4: "\x00\x00\x00\x00"} {
		b := make([]byte, len(want))
		if _, err := g.ReadAt(b, off); err != nil || string(b) != want {
			t.Errorf("at %d: %q, %v; want %q", off, b, err, want)
		}
	}
}
