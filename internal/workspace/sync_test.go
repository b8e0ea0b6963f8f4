package workspace

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/internal/archive"
)

// TestSyncEqualsFreshCopy: whatever changed in the source between two
// builds, the second build's synced workspace is what a fresh CopyDir of
// the source makes, with the same entries left out for the same reasons.
func TestSyncEqualsFreshCopy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(t *testing.T, src string)
		// untouched are paths the sync must keep (same inode).
		untouched []string
		rootOnly  bool
	}{
		{name: "nothing", mutate: func(*testing.T, string) {},
			untouched: []string{"main.go", "run.sh", "lib/a.txt", "lib/deep/c.txt", "alias", "lib/up", "empty"}},
		{name: "add file", mutate: func(t *testing.T, src string) {
			write(t, filepath.Join(src, "lib", "new.txt"), "new", 0o644)
		}, untouched: []string{"lib/a.txt", "main.go"}},
		{name: "remove file", mutate: func(t *testing.T, src string) {
			must(t, os.Remove(filepath.Join(src, "lib", "b.txt")))
		}, untouched: []string{"lib/a.txt"}},
		{name: "modify file, same size, mtime reset", mutate: func(t *testing.T, src string) {
			p := filepath.Join(src, "main.go")
			must(t, os.WriteFile(p, []byte("package xxxx\n"), 0o644))
			must(t, os.Chtimes(p, past, past))
		}, untouched: []string{"run.sh"}},
		{name: "modify file", mutate: func(t *testing.T, src string) {
			write(t, filepath.Join(src, "lib", "deep", "c.txt"), "longer content", 0o644)
		}},
		{name: "change mode", mutate: func(t *testing.T, src string) {
			must(t, os.Chmod(filepath.Join(src, "run.sh"), 0o700))
			must(t, os.Chmod(filepath.Join(src, "lib"), 0o750))
		}, untouched: []string{"main.go", "lib/a.txt"}},
		{name: "change mtime only", mutate: func(t *testing.T, src string) {
			when := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
			must(t, os.Chtimes(filepath.Join(src, "static", "index.html"), when, when))
			must(t, os.Chtimes(filepath.Join(src, "lib"), when, when))
		}},
		{name: "dir becomes file", mutate: func(t *testing.T, src string) {
			must(t, os.RemoveAll(filepath.Join(src, "lib")))
			write(t, filepath.Join(src, "lib"), "now a file", 0o644)
		}, untouched: []string{"main.go"}},
		{name: "file becomes dir", mutate: func(t *testing.T, src string) {
			must(t, os.Remove(filepath.Join(src, "main.go")))
			write(t, filepath.Join(src, "main.go", "inner"), "x", 0o644)
		}, untouched: []string{"run.sh"}},
		{name: "file becomes symlink", mutate: func(t *testing.T, src string) {
			must(t, os.Remove(filepath.Join(src, "run.sh")))
			must(t, os.Symlink("main.go", filepath.Join(src, "run.sh")))
		}},
		{name: "symlink retargeted", mutate: func(t *testing.T, src string) {
			must(t, os.Remove(filepath.Join(src, "alias")))
			must(t, os.Symlink("lib/b.txt", filepath.Join(src, "alias")))
		}},
		{name: "symlinks inside and outside", mutate: func(t *testing.T, src string) {
			must(t, os.Symlink("deep", filepath.Join(src, "lib", "dirlink")))
			must(t, os.Symlink("missing-but-inside", filepath.Join(src, "dangling")))
			must(t, os.Symlink("/etc/passwd", filepath.Join(src, "abs")))
			must(t, os.Symlink("../../outside", filepath.Join(src, "lib", "climb")))
		}},
		{name: "symlink starts leading outside", mutate: func(t *testing.T, src string) {
			// alias -> lib/a.txt itself is unchanged, but lib now leads out.
			must(t, os.Rename(filepath.Join(src, "lib"), filepath.Join(src, "lib2")))
			must(t, os.Symlink("/tmp", filepath.Join(src, "lib")))
		}},
		{name: "sparse file", mutate: func(t *testing.T, src string) {
			f, err := os.Create(filepath.Join(src, "sparse.img"))
			must(t, err)
			must(t, f.Truncate(8<<20))
			_, err = f.WriteAt([]byte("x"), 4<<20)
			must(t, err)
			must(t, f.Close())
		}},
		{name: "empty dirs", mutate: func(t *testing.T, src string) {
			must(t, os.Remove(filepath.Join(src, "empty")))
			must(t, os.MkdirAll(filepath.Join(src, "new", "empty", "dirs"), 0o705))
		}, untouched: []string{"lib/a.txt"}},
		{name: "special files", mutate: func(t *testing.T, src string) {
			must(t, syscall.Mkfifo(filepath.Join(src, "lib", "fifo"), 0o644))
		}, untouched: []string{"lib/a.txt"}},
		{name: "hard links become separate files", mutate: func(t *testing.T, src string) {
			must(t, os.Link(filepath.Join(src, "lib", "a.txt"), filepath.Join(src, "lib", "a2.txt")))
		}},
		{name: "setuid and read-only dir", mutate: func(t *testing.T, src string) {
			must(t, os.Chmod(filepath.Join(src, "run.sh"), 0o4755|os.ModeSetuid))
			must(t, os.Chmod(filepath.Join(src, "run.sh"), os.ModeSetuid|0o755))
			must(t, os.Chmod(filepath.Join(src, "static"), 0o555))
		}, untouched: []string{"main.go"}},
		{name: "unreadable dir", rootOnly: true, mutate: func(t *testing.T, src string) {
			must(t, os.Chmod(filepath.Join(src, "lib", "deep"), 0))
		}, untouched: []string{"main.go", "lib/deep/c.txt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.rootOnly && !isRoot() {
				t.Skip("needs root")
			}
			var owner *archive.Owner
			if isRoot() {
				owner = &archive.Owner{UID: 4001, GID: 4002}
			}
			src := baseSource(t)
			base := firstBuild(t, src, owner, nil)
			before := map[string]uint64{}
			for _, p := range tc.untouched {
				before[p] = ino(t, filepath.Join(base, "cache", "workspace", "tree", p))
			}
			tc.mutate(t, src)
			b := newBuild(t, base, 2)
			b.mustPrepare(src, owner)
			if !b.stats.Reused || len(b.warns) > 0 {
				t.Fatalf("the kept workspace was not synced: %+v, warnings %q", b.stats, b.warns)
			}
			fresh, skips := freshCopy(t, src, owner)
			sameTree(t, b.layout.App, fresh)
			if diff := cmp.Diff(skips, b.skips); diff != "" {
				t.Errorf("entries left out (-CopyDir +sync):\n%s", diff)
			}
			for p, want := range before {
				if got := ino(t, filepath.Join(b.layout.App, p)); got != want {
					t.Errorf("%s was copied again (inode %d, was %d)", p, got, want)
				}
			}
			if tc.name == "nothing" && (b.stats.Copied != 0 || b.stats.Removed != 0) {
				t.Errorf("a no-op sync copied or removed: %+v", b.stats)
			}
		})
	}
}

// TestOwnerChange: a build whose CNB user maps to other host ids gets
// the kept tree re-owned, setuid bits intact, without copying it again.
func TestOwnerChange(t *testing.T) {
	if !isRoot() {
		t.Skip("needs root")
	}
	src := baseSource(t)
	must(t, os.Chmod(filepath.Join(src, "run.sh"), os.ModeSetuid|os.ModeSetgid|0o755))
	base := firstBuild(t, src, &archive.Owner{UID: 4001, GID: 4002}, nil)
	keptIno := ino(t, filepath.Join(base, "cache", "workspace", "tree", "run.sh"))
	b := newBuild(t, base, 2)
	newOwner := &archive.Owner{UID: 5001, GID: 5002}
	b.mustPrepare(src, newOwner)
	fresh, _ := freshCopy(t, src, newOwner)
	sameTree(t, b.layout.App, fresh)
	if b.stats.Copied != 0 || b.stats.Fixed == 0 {
		t.Errorf("stats %+v, want nothing copied and entries re-owned", b.stats)
	}
	if got := ino(t, filepath.Join(b.layout.App, "run.sh")); got != keptIno {
		t.Error("run.sh was copied again")
	}
}

// TestChainOfBuilds: builds that each change the source and the
// workspace keep matching a fresh copy, and each hands its tree on.
func TestChainOfBuilds(t *testing.T) {
	src := baseSource(t)
	base := firstBuild(t, src, nil, nil)
	for i := 2; i < 6; i++ {
		write(t, filepath.Join(src, "gen", "f"+string(rune('0'+i))), "build", 0o644)
		b := newBuild(t, base, i)
		b.mustPrepare(src, nil)
		if !b.stats.Reused {
			t.Fatalf("build %d did not reuse: %q", i, b.warns)
		}
		fresh, _ := freshCopy(t, src, nil)
		sameTree(t, b.layout.App, fresh)
		write(t, filepath.Join(b.layout.App, "build-output"), "junk", 0o644) // the build writes
		b.keep()
	}
}

// TestRacySource: a source file changed just before a sync (within the
// racy margin) is not trusted by the next one, however it looks then.
func TestRacySource(t *testing.T) {
	defer func(m time.Duration) { racyMargin = m }(racyMargin)
	racyMargin = time.Hour
	src := baseSource(t)
	base := firstBuild(t, src, nil, nil)
	b := newBuild(t, base, 2)
	b.mustPrepare(src, nil)
	if !b.stats.Reused || b.stats.Kept != 0 {
		t.Errorf("racy entries were kept: %+v", b.stats)
	}
}

// TestConcurrentTake: of two builds of one app, one takes the kept
// workspace; the other copies in full; one hands back, the other's goes.
func TestConcurrentTake(t *testing.T) {
	src := baseSource(t)
	base := firstBuild(t, src, nil, nil)
	b1, b2 := newBuild(t, base, 2), newBuild(t, base, 3)
	b1.mustPrepare(src, nil)
	b2.mustPrepare(src, nil)
	if !b1.stats.Reused || b2.stats.Reused {
		t.Errorf("reused: %v, %v; want only the first", b1.stats.Reused, b2.stats.Reused)
	}
	fresh, _ := freshCopy(t, src, nil)
	sameTree(t, b2.layout.App, fresh)
	b2.keep()
	if ok, err := Keep(b1.layout); ok || err != nil {
		t.Errorf("second Keep = %v, %v; want false (one is kept already)", ok, err)
	}
	if !exists(filepath.Join(base, "cache", "workspace", "manifest")) {
		t.Error("no workspace kept")
	}
}

// TestKilledBuildsNeverMisuse: whatever step a build was killed at, the
// next build gets a correct workspace (a kill leaves its work dir, which
// the next run deletes, and nothing or a whole workspace in the store).
func TestKilledBuildsNeverMisuse(t *testing.T) {
	src := baseSource(t)
	base := firstBuild(t, src, nil, nil)
	// Killed after taking and syncing, before writing the manifest: the
	// store is empty; the next build copies in full.
	b := newBuild(t, base, 2)
	if _, err := take(b.layout); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(b.layout.App, "half"), "synced", 0o644)
	next := newBuild(t, base, 3)
	next.mustPrepare(src, nil)
	if next.stats.Reused {
		t.Error("a build reused a workspace another build had taken")
	}
	fresh, _ := freshCopy(t, src, nil)
	sameTree(t, next.layout.App, fresh)
	// Killed between the two renames of Keep: the store stays empty.
	must(t, os.Rename(next.layout.App, filepath.Join(next.layout.Hold, treeName)))
	if exists(filepath.Join(base, "cache", "workspace")) {
		t.Error("a half-kept workspace is in the store")
	}
}

func TestManifestRoundTrip(t *testing.T) {
	m := NewManifest()
	m.put(".", srcFP{Mode: 0o40755, Ino: 1}, wsFP{Mode: 0o40755, Ctime: 50})
	m.put("a/b", srcFP{Mode: 0o100644, Size: 3, Mtime: -1}, wsFP{Mode: 0o100644, UID: 1, GID: 2, Nlink: 1, Ctime: 9})
	b, err := m.MarshalBinary()
	must(t, err)
	got := NewManifest()
	must(t, got.UnmarshalBinary(b))
	if diff := cmp.Diff(m.entries, got.entries, cmp.AllowUnexported(entry{})); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if got.maxCtime() != 9 {
		t.Errorf("maxCtime %d", got.maxCtime())
	}
	for name, bad := range map[string][]byte{
		"empty":     nil,
		"truncated": b[:len(b)-1],
		"flipped":   slices.Concat(b[:40], []byte{b[40] ^ 1}, b[41:]),
		"other":     slices.Concat([]byte("kiln-workspace-manifest/2\n"), b[len(manifestMagic):]),
	} {
		if err := NewManifest().UnmarshalBinary(bad); err == nil {
			t.Errorf("%s manifest accepted", name)
		}
	}
	bad := NewManifest()
	bad.put("../escape", srcFP{}, wsFP{})
	b, _ = bad.MarshalBinary()
	if err := NewManifest().UnmarshalBinary(b); err == nil {
		t.Error("a manifest path leaving the tree was accepted")
	}
}
