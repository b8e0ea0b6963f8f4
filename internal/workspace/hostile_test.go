package workspace

import (
	"context"
	"github.com/kiln-build/kiln/internal/workdir"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/internal/archive"
)

// victim is a directory outside the workspace a hostile build aims at.
func victim(t *testing.T) string {
	t.Helper()
	v := filepath.Join(t.TempDir(), "victim")
	write(t, filepath.Join(v, "secret"), "host secret", 0o600)
	write(t, filepath.Join(v, "sub", "canary"), "canary", 0o644)
	return v
}

// TestHostileKeptTree: whatever the previous build left in its workspace,
// the next sync makes a fresh copy of the source, without following,
// opening or writing through anything the build planted, and leaves what
// lies outside as it was.
func TestHostileKeptTree(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rootOnly bool
		plant    func(t *testing.T, app, victim string)
	}{
		{name: "dir replaced by a symlink to a victim dir", plant: func(t *testing.T, app, v string) {
			must(t, os.RemoveAll(filepath.Join(app, "lib")))
			must(t, os.Symlink(v, filepath.Join(app, "lib")))
		}},
		{name: "dirs replaced by symlinks to / and /etc", plant: func(t *testing.T, app, _ string) {
			must(t, os.RemoveAll(filepath.Join(app, "lib")))
			must(t, os.Symlink("/", filepath.Join(app, "lib")))
			must(t, os.RemoveAll(filepath.Join(app, "static")))
			must(t, os.Symlink("/etc", filepath.Join(app, "static")))
		}},
		{name: "nested dir replaced by a relative symlink climbing out", plant: func(t *testing.T, app, v string) {
			must(t, os.RemoveAll(filepath.Join(app, "lib", "deep")))
			rel, err := filepath.Rel(filepath.Join(app, "lib"), v)
			must(t, err)
			must(t, os.Symlink(rel, filepath.Join(app, "lib", "deep")))
		}},
		{name: "fifos", plant: func(t *testing.T, app, _ string) {
			must(t, os.Remove(filepath.Join(app, "main.go")))
			must(t, syscall.Mkfifo(filepath.Join(app, "main.go"), 0o644))
			must(t, syscall.Mkfifo(filepath.Join(app, "lib", "extra-fifo"), 0o644))
		}},
		{name: "socket", plant: func(t *testing.T, app, _ string) {
			must(t, os.Remove(filepath.Join(app, "run.sh")))
			l, err := net.Listen("unix", filepath.Join(app, "run.sh"))
			must(t, err)
			l.(*net.UnixListener).SetUnlinkOnClose(false)
			l.Close()
		}},
		{name: "device node", rootOnly: true, plant: func(t *testing.T, app, _ string) {
			must(t, os.Remove(filepath.Join(app, "main.go")))
			must(t, syscall.Mknod(filepath.Join(app, "main.go"), syscall.S_IFCHR|0o666, 1<<8|3))
			must(t, syscall.Mknod(filepath.Join(app, "null"), syscall.S_IFCHR|0o666, 1<<8|3))
		}},
		{name: "hard link to a victim file", plant: func(t *testing.T, app, v string) {
			must(t, os.Remove(filepath.Join(app, "lib", "a.txt")))
			must(t, os.Link(filepath.Join(v, "secret"), filepath.Join(app, "lib", "a.txt")))
			must(t, os.Link(filepath.Join(v, "sub", "canary"), filepath.Join(app, "extra-link")))
		}},
		{name: "kept file hard-linked inside the tree", plant: func(t *testing.T, app, _ string) {
			must(t, os.Link(filepath.Join(app, "lib", "a.txt"), filepath.Join(app, "lib", "a-again")))
		}},
		{name: "file rewritten in place with its mtime reset", plant: func(t *testing.T, app, _ string) {
			p := filepath.Join(app, "lib", "a.txt")
			fi, err := os.Stat(p)
			must(t, err)
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			must(t, err)
			_, err = f.WriteAt([]byte("EVIL"), 0)
			must(t, err)
			must(t, f.Close())
			must(t, os.Chtimes(p, fi.ModTime(), fi.ModTime()))
		}},
		{name: "mode 0000 dirs", plant: func(t *testing.T, app, _ string) {
			write(t, filepath.Join(app, "locked", "inner", "f"), "x", 0o644)
			must(t, os.Chmod(filepath.Join(app, "locked", "inner"), 0))
			must(t, os.Chmod(filepath.Join(app, "locked"), 0))
			must(t, os.Chmod(filepath.Join(app, "lib", "deep"), 0))
			must(t, os.Chmod(filepath.Join(app, "lib"), 0))
		}},
		{name: "setuid and setgid bits", plant: func(t *testing.T, app, _ string) {
			must(t, os.Chmod(filepath.Join(app, "run.sh"), os.ModeSetuid|0o755))
			must(t, os.Chmod(filepath.Join(app, "lib"), os.ModeSetgid|os.ModeSticky|0o777))
		}},
		{name: "attributes and a default ACL", plant: func(t *testing.T, app, _ string) {
			if err := syscall.Setxattr(filepath.Join(app, "lib"), "user.evil", []byte("1"), 0); err != nil {
				t.Skipf("no user xattrs here: %v", err)
			}
			must(t, syscall.Setxattr(filepath.Join(app, "main.go"), "user.evil", []byte("1"), 0))
			// An ACL giving "other" nothing: mask would change new files.
			acl := []byte{2, 0, 0, 0, 1, 0, 7, 0, 0xff, 0xff, 0xff, 0xff, 4, 0, 7, 0, 0xff, 0xff, 0xff, 0xff, 0x20, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}
			if err := syscall.Setxattr(filepath.Join(app, "lib"), "system.posix_acl_default", acl, 0); err != nil {
				t.Logf("no default ACL: %v", err)
			}
			must(t, os.Remove(filepath.Join(app, "lib", "b.txt"))) // to be made inside lib
		}},
		{name: "owners changed", rootOnly: true, plant: func(t *testing.T, app, _ string) {
			must(t, os.Lchown(filepath.Join(app, "main.go"), 0, 0))
			must(t, os.Lchown(filepath.Join(app, "lib"), 0, 0))
			must(t, os.Lchown(filepath.Join(app, "alias"), 0, 0))
		}},
		{name: "types swapped", plant: func(t *testing.T, app, _ string) {
			must(t, os.RemoveAll(filepath.Join(app, "static")))
			write(t, filepath.Join(app, "static"), "file where a dir was", 0o644)
			must(t, os.Remove(filepath.Join(app, "main.go")))
			write(t, filepath.Join(app, "main.go", "x"), "dir where a file was", 0o644)
			must(t, os.Remove(filepath.Join(app, "alias")))
			must(t, os.Mkdir(filepath.Join(app, "alias"), 0o755))
		}},
		{name: "huge sparse files", plant: func(t *testing.T, app, _ string) {
			for _, p := range []string{"main.go", "huge"} {
				f, err := os.Create(filepath.Join(app, p))
				must(t, err)
				must(t, f.Truncate(1<<40))
				must(t, f.Close())
			}
		}},
		{name: "10000-deep trees", plant: func(t *testing.T, app, _ string) {
			deepTree(t, filepath.Join(app, "deep"), 10000)
			must(t, os.RemoveAll(filepath.Join(app, "empty")))
			deepTree(t, filepath.Join(app, "empty"), 10000) // where the source has an empty dir
		}},
		{name: "build output", plant: func(t *testing.T, app, _ string) {
			write(t, filepath.Join(app, "node_modules", "x", "index.js"), "x", 0o644)
			write(t, filepath.Join(app, ".kiln-sync-1"), "a name the sync uses", 0o644)
			write(t, filepath.Join(app, "static", "generated.css"), "x", 0o644)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.rootOnly && !isRoot() {
				t.Skip("needs root")
			}
			var owner *archive.Owner
			if isRoot() {
				owner = &archive.Owner{UID: 4001, GID: 4002}
			}
			v := victim(t)
			victimBefore := snapshotNoLinks(t, v)
			src := baseSource(t)
			base := firstBuild(t, src, owner, func(app string) { tc.plant(t, app, v) })
			b := newBuild(t, base, 2)
			done := make(chan error, 1)
			go func() { done <- b.prepare(src, owner) }()
			select {
			case err := <-done:
				must(t, err)
			case <-time.After(30 * time.Second):
				t.Fatal("the sync blocked")
			}
			if !b.stats.Reused || len(b.warns) > 0 {
				t.Errorf("the kept tree was not synced: %+v, %q", b.stats, b.warns)
			}
			fresh, _ := freshCopy(t, src, owner)
			sameTree(t, b.layout.App, fresh)
			if diff := cmp.Diff(victimBefore, snapshotNoLinks(t, v)); diff != "" {
				t.Errorf("the victim changed (-before +after):\n%s", diff)
			}
		})
	}
}

// snapshotNoLinks is a snapshot without link counts: removing a hard
// link the build made to a victim file changes only that.
func snapshotNoLinks(t *testing.T, root string) map[string]node {
	s := snapshot(t, root)
	for k, n := range s {
		n.Nlink = 0
		s[k] = n
	}
	return s
}

// deepTree makes depth nested directories at p (beyond PATH_MAX).
func deepTree(t *testing.T, p string, depth int) {
	t.Helper()
	must(t, os.MkdirAll(p, 0o755))
	fd, err := syscall.Open(p, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	must(t, err)
	for i := 0; i < depth; i++ {
		must(t, syscall.Mkdirat(fd, "d", 0o755))
		next, err := syscall.Openat(fd, "d", syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
		must(t, err)
		syscall.Close(fd)
		fd = next
	}
	must(t, syscall.Close(fd))
}

// TestHostileStore: a kept workspace that is not what Keep leaves (no or
// a corrupt manifest, a symlink for its tree, a file) is dropped with a
// warning, and the source copied afresh.
func TestHostileStore(t *testing.T) {
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, store, victim string)
		warn  string
	}{
		{"no manifest", func(t *testing.T, store, _ string) {
			must(t, os.Remove(filepath.Join(store, manifestName)))
		}, "no such file"},
		{"corrupt manifest", func(t *testing.T, store, _ string) {
			p := filepath.Join(store, manifestName)
			b, err := os.ReadFile(p)
			must(t, err)
			b[len(b)/2] ^= 0xff
			must(t, os.WriteFile(p, b, 0o600))
		}, "checksum"},
		{"manifest is a fifo", func(t *testing.T, store, _ string) {
			must(t, os.Remove(filepath.Join(store, manifestName)))
			must(t, syscall.Mkfifo(filepath.Join(store, manifestName), 0o600))
		}, "not a regular file"},
		{"tree is a symlink to a victim", func(t *testing.T, store, v string) {
			must(t, os.RemoveAll(filepath.Join(store, treeName)))
			must(t, os.Symlink(v, filepath.Join(store, treeName)))
		}, "not a directory"},
		{"store is a symlink", func(t *testing.T, store, v string) {
			must(t, os.RemoveAll(store))
			must(t, os.Symlink(v, store))
		}, "not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := victim(t)
			victimBefore := snapshot(t, v)
			src := baseSource(t)
			base := firstBuild(t, src, nil, nil)
			tc.plant(t, filepath.Join(base, "cache", "workspace"), v)
			b := newBuild(t, base, 2)
			b.mustPrepare(src, nil)
			if b.stats.Reused || len(b.warns) != 1 || !strings.Contains(b.warns[0], tc.warn) {
				t.Errorf("reused %v, warnings %q; want one naming %q", b.stats.Reused, b.warns, tc.warn)
			}
			fresh, _ := freshCopy(t, src, nil)
			sameTree(t, b.layout.App, fresh)
			if diff := cmp.Diff(victimBefore, snapshot(t, v)); diff != "" {
				t.Errorf("the victim changed (-before +after):\n%s", diff)
			}
			b.keep() // and the next build has a good one again
			b3 := newBuild(t, base, 3)
			b3.mustPrepare(src, nil)
			if !b3.stats.Reused || len(b3.warns) > 0 {
				t.Errorf("the next build did not reuse: %+v %q", b3.stats, b3.warns)
			}
		})
	}
}

// TestSourceErrorsAsCopyDir: a source the sync cannot read fails the
// sync as a full copy fails, with CopyDir's error naming the entry, and
// without a warning about the kept tree.
func TestSourceErrorsAsCopyDir(t *testing.T) {
	if isRoot() {
		t.Skip("root reads every directory")
	}
	src := baseSource(t)
	base := firstBuild(t, src, nil, nil)
	must(t, os.Chmod(filepath.Join(src, "lib", "deep"), 0))
	defer os.Chmod(filepath.Join(src, "lib", "deep"), 0o755)
	b := newBuild(t, base, 2)
	err := b.prepare(src, nil)
	want := archive.CopyDir(bg, src, t.TempDir(), archive.CopyOptions{})
	if err == nil || want == nil || err.Error() != want.Error() || len(b.warns) > 0 {
		t.Errorf("Prepare = %v (warnings %q), want CopyDir's %v", err, b.warns, want)
	}
}

// TestCancelled: a cancelled sync stops with the context's error.
func TestCancelled(t *testing.T) {
	src := baseSource(t)
	base := firstBuild(t, src, nil, nil)
	ctx, cancel := context.WithCancel(bg)
	cancel()
	b := newBuild(t, base, 2)
	if _, err := Prepare(ctx, src, b.layout, Options{}); err != context.Canceled {
		t.Errorf("Prepare = %v, want context.Canceled", err)
	}
}

// TestRemoveDeepTree: removal keeps few directories open, however deep.
func TestRemoveDeepTree(t *testing.T) {
	dir := t.TempDir()
	deepTree(t, filepath.Join(dir, "x"), 3000)
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	must(t, err)
	defer syscall.Close(fd)
	var st syscall.Stat_t
	must(t, syscall.Fstat(fd, &st))
	n, err := workdir.RemoveAt(fd, "x", filepath.Join(dir, "x"), st.Dev)
	if err != nil || n != 3001 {
		t.Errorf("removeAt = %d, %v; want 3001 entries", n, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left %v", entries)
	}
}
