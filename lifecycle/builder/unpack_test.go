package builder

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/kiln-build/kiln/internal/progress"
)

func TestUnpackInUseIsNotRemoved(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	// What a killed unpack left.
	d, _ := img.Digest()
	os.MkdirAll(filepath.Join(dir, partial+d.Hex+"-123", "etc"), 0o755)

	p, release, err := UnpackHeld(ctx, img, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, partial+"*")); len(left) != 0 {
		t.Errorf("partial unpacks left: %v", left)
	}
	list, err := ListRootFS(dir)
	if err != nil || len(list) != 1 || list[0].Dir != p || list[0].Size <= 0 {
		t.Fatalf("ListRootFS = %+v, %v", list, err)
	}
	if _, err := RemoveRootFS(p); !errors.Is(err, ErrBusy) {
		t.Fatalf("RemoveRootFS of a tree in use: %v", err)
	}
	// A second user shares it.
	p2, release2, err := UnpackHeld(ctx, img, dir, nil)
	if err != nil || p2 != p {
		t.Fatal(p2, err)
	}
	release()
	if _, err := RemoveRootFS(p); !errors.Is(err, ErrBusy) {
		t.Fatalf("RemoveRootFS with one user left: %v", err)
	}
	release2()
	freed, err := RemoveRootFS(p)
	if err != nil || freed <= 0 {
		t.Fatalf("RemoveRootFS = %d, %v", freed, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left in %s: %v", dir, entries)
	}
	// And it comes back on the next use.
	p, release, err = UnpackHeld(ctx, img, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
}

func TestCleanPartial(t *testing.T) {
	dir := t.TempDir()
	hex := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	left := filepath.Join(dir, partial+hex+"-9")
	os.MkdirAll(filepath.Join(left, "usr"), 0o755)
	os.WriteFile(filepath.Join(left, "usr", "f"), make([]byte, 8192), 0o644)
	if freed := CleanPartial(dir); freed < 8192 {
		t.Errorf("CleanPartial freed %d", freed)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left: %v", entries)
	}
}

func TestCleanPartialLegacy(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, partial+"12345")
	fresh := filepath.Join(dir, partial+"67890")
	os.MkdirAll(old, 0o755)
	os.MkdirAll(fresh, 0o755)
	long := time.Now().Add(-48 * time.Hour)
	os.Chtimes(old, long, long)
	CleanPartial(dir)
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a day-old partial unpack is still there")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a fresh one went: %v", err)
	}
}

// Removing a root file system reports the size recorded when it was
// unpacked (the tree never changes after), without walking it again.
func TestRemoveRootFSUsesRecordedSize(t *testing.T) {
	dir := t.TempDir()
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	p, release, err := UnpackHeld(context.Background(), img, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	release()
	if err := os.WriteFile(p+sizeSuffix, []byte("123456789\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if list, err := ListRootFS(dir); err != nil || len(list) != 1 || list[0].Size != 123456789 {
		t.Fatalf("ListRootFS = %+v, %v; want the recorded size", list, err)
	}
	if freed, err := RemoveRootFS(p); err != nil || freed != 123456789 {
		t.Errorf("RemoveRootFS = %d, %v; want the recorded size", freed, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left in %s: %v", dir, entries)
	}
}

// TestUnpackShowsPull: unpacking an image whose layers come from a
// registry (counted by a progress.Meter) shows the pull on a terminal,
// after the "Unpacking" line; an unpacked image is not pulled again.
func TestUnpackShowsPull(t *testing.T) {
	defer func(f func(io.Writer) bool) { progress.IsTerminal = f }(progress.IsTerminal)
	progress.IsTerminal = func(io.Writer) bool { return true }
	img, err := random.Image(3<<20, 2)
	if err != nil {
		t.Fatal(err)
	}
	var term, log bytes.Buffer
	pulled := progress.NewMeter(&term).Image(img, "reg.example/builder:1")
	dir := t.TempDir()
	if _, err := Unpack(context.Background(), pulled, dir, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "Unpacking image") {
		t.Errorf("log %q", log.String())
	}
	if out := term.String(); !strings.Contains(out, "Pulling reg.example/builder:1: ") || !strings.Contains(out, "(100%") || !strings.HasSuffix(out, "\n") {
		t.Errorf("progress %q", out)
	}
	term.Reset()
	if _, err := Unpack(context.Background(), pulled, dir, &log); err != nil {
		t.Fatal(err)
	}
	if term.Len() != 0 {
		t.Errorf("a second unpack drew %q", term.String())
	}
}
