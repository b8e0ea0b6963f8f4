package workspace

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/internal/testutil"
)

var bg = context.Background()

func TestMain(m *testing.M) {
	// Sources in these tests are written right before they are synced;
	// each sync's manifest write waits until the file system clock has
	// passed them, so they need no margin to be told apart from later
	// changes (TestRacySource checks the margin itself).
	racyMargin = 0
	os.Exit(m.Run())
}

// node is what a tree comparison looks at for one entry.
type node struct {
	Type     string
	Mode     fs.FileMode // permission, setuid, setgid and sticky bits
	Size     int64       // regular files and links
	SHA256   string      // regular files
	Target   string      // links
	Mtime    time.Time
	UID, GID uint32
	Blocks   int64 // regular files: sparseness shows here
	Nlink    uint64
	Xattrs   string
}

// snapshot describes the tree at root, path by path ("." its root),
// without following a link.
func snapshot(t testing.TB, root string) map[string]node {
	t.Helper()
	out := map[string]node{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		n := node{Type: kindOf(fi.Mode()), Mode: fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky),
			Mtime: fi.ModTime(), UID: st.Uid, GID: st.Gid, Xattrs: xattrs(p)}
		switch {
		case fi.Mode().IsRegular():
			n.Size, n.Blocks, n.Nlink = fi.Size(), st.Blocks, uint64(st.Nlink)
			n.SHA256 = "not read: too big"
			if fi.Size() < 1<<30 {
				n.SHA256 = hashFile(t, p)
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			n.Size = fi.Size()
			n.Target, _ = os.Readlink(p)
		}
		// A directory's size is its history (ext4 never shrinks one) and
		// no image sees it: left out.
		out[filepath.ToSlash(rel)] = n
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", root, err)
	}
	return out
}

func kindOf(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "dir"
	case m.IsRegular():
		return "file"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	}
	return "special " + m.Type().String()
}

func hashFile(t testing.TB, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func xattrs(p string) string {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n == 0 {
		return ""
	}
	var names []string
	for _, a := range strings.Split(string(buf[:n]), "\x00") {
		if a != "" && !strings.HasPrefix(a, "security.") {
			names = append(names, a)
		}
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// sameTree fails t unless the trees got and want are alike entry for
// entry.
func sameTree(t testing.TB, got, want string) {
	t.Helper()
	if diff := cmp.Diff(snapshot(t, want), snapshot(t, got)); diff != "" {
		t.Errorf("synced tree differs from a fresh copy (-fresh +synced):\n%s", diff)
	}
}

// freshCopy copies src as the build copies a source first, and returns
// the copy and the skipped entries' reasons.
func freshCopy(t testing.TB, src string, owner *archive.Owner) (string, []string) {
	t.Helper()
	dst := filepath.Join(tempDir(t), "fresh")
	var skips []string
	err := archive.CopyDir(bg, src, dst, archive.CopyOptions{Owner: owner, OnSkip: func(p string, reason error) error {
		skips = append(skips, p+": "+reason.Error())
		return nil
	}})
	if err != nil {
		t.Fatalf("CopyDir: %v", err)
	}
	return dst, skips
}

// build is one build's use of the workspace: Prepare, then (when the
// build succeeded) Keep.
type build struct {
	t      testing.TB
	layout Layout
	stats  Stats
	skips  []string
	warns  []string
}

// newBuild prepares a work dir under base for a build of the app whose
// cache is base/cache.
func newBuild(t testing.TB, base string, n int) *build {
	t.Helper()
	work := filepath.Join(base, fmt.Sprintf("work%d", n))
	if err := os.MkdirAll(filepath.Join(work, "workspace"), 0o755); err != nil {
		t.Fatal(err)
	}
	return &build{t: t, layout: Layout{
		Store: filepath.Join(base, "cache", "workspace"),
		Hold:  filepath.Join(work, "kept"),
		App:   filepath.Join(work, "workspace"),
	}}
}

func (b *build) prepare(src string, owner *archive.Owner) error {
	st, err := Prepare(bg, src, b.layout, Options{
		Owner: owner,
		OnSkip: func(p string, reason error) error {
			b.skips = append(b.skips, p+": "+reason.Error())
			return nil
		},
		Warn: func(msg string) { b.warns = append(b.warns, msg) },
	})
	b.stats = st
	return err
}

func (b *build) mustPrepare(src string, owner *archive.Owner) {
	b.t.Helper()
	if err := b.prepare(src, owner); err != nil {
		b.t.Fatalf("Prepare: %v", err)
	}
}

func (b *build) keep() {
	b.t.Helper()
	ok, err := Keep(b.layout)
	if err != nil || !ok {
		b.t.Fatalf("Keep = %v, %v", ok, err)
	}
}

// cycle runs a first build of src (a full copy) that keeps its
// workspace, and returns the base dir of the app.
func firstBuild(t testing.TB, src string, owner *archive.Owner, mutate func(app string)) string {
	t.Helper()
	base := tempDir(t)
	b := newBuild(t, base, 1)
	b.mustPrepare(src, owner)
	if b.stats.Reused {
		t.Fatal("the first build found a kept workspace")
	}
	if mutate != nil {
		mutate(b.layout.App)
	}
	b.keep()
	return base
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// write writes content to p with exactly mode, making its parents.
var write = testutil.WriteFile

var past = time.Date(2020, 5, 6, 7, 8, 9, 123456789, time.UTC)

// baseSource is the source tree every case starts from.
func baseSource(t testing.TB) string {
	t.Helper()
	src := filepath.Join(tempDir(t), "src")
	write(t, filepath.Join(src, "main.go"), "package main\n", 0o644)
	write(t, filepath.Join(src, "run.sh"), "#!/bin/sh\necho hi\n", 0o755)
	write(t, filepath.Join(src, "lib", "a.txt"), "aaaa", 0o644)
	write(t, filepath.Join(src, "lib", "b.txt"), "bbbb", 0o600)
	write(t, filepath.Join(src, "lib", "deep", "c.txt"), "cccc", 0o644)
	write(t, filepath.Join(src, "static", "index.html"), "<html></html>", 0o644)
	must(t, os.MkdirAll(filepath.Join(src, "empty"), 0o755))
	must(t, os.Symlink("lib/a.txt", filepath.Join(src, "alias")))
	must(t, os.Symlink("../main.go", filepath.Join(src, "lib", "up")))
	must(t, os.Chtimes(filepath.Join(src, "main.go"), past, past))
	return src
}

func isRoot() bool { return os.Geteuid() == 0 }

// ino is the inode number of p.
func ino(t testing.TB, p string) uint64 {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return !errors.Is(err, fs.ErrNotExist)
}

// tempDir is t.TempDir, made writable again before it is removed: trees
// with read-only directories are left there when not root.
func tempDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	t.Cleanup(func() {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
	})
	return dir
}
