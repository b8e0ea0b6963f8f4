package workspace

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/archive"
)

// TestExclude: entries a project leaves out never enter the workspace,
// whether it is copied afresh or synced from a kept tree that still holds
// them (the filter changed between builds), and the result is what
// CopyDir with the same filter makes.
func TestExclude(t *testing.T) {
	excl := func(rel string, isDir bool) bool {
		return rel == "lib/b.txt" || (isDir && rel == "static") || strings.HasSuffix(rel, ".secret")
	}
	var owner *archive.Owner
	if isRoot() {
		owner = &archive.Owner{UID: 4001, GID: 4002}
	}
	src := baseSource(t)
	write(t, filepath.Join(src, "lib", "deep", "key.secret"), "s3cret", 0o600)

	check := func(t *testing.T, app string) {
		t.Helper()
		for _, p := range []string{"lib/b.txt", "static", "lib/deep/key.secret"} {
			if exists(filepath.Join(app, p)) {
				t.Errorf("excluded %s is in the workspace", p)
			}
		}
		for _, p := range []string{"main.go", "lib/a.txt", "lib/deep/c.txt", "alias"} {
			if !exists(filepath.Join(app, p)) {
				t.Errorf("%s is missing from the workspace", p)
			}
		}
		dst := filepath.Join(tempDir(t), "fresh")
		must(t, archive.CopyDir(bg, src, dst, archive.CopyOptions{Owner: owner, Exclude: excl}))
		sameTree(t, app, dst)
	}
	prepare := func(b *build, exclude func(string, bool) bool) {
		st, err := Prepare(bg, src, b.layout, Options{Owner: owner, Exclude: exclude})
		must(t, err)
		b.stats = st
	}

	t.Run("fresh copy", func(t *testing.T) {
		b := newBuild(t, tempDir(t), 1)
		prepare(b, excl)
		check(t, b.layout.App)
	})
	t.Run("kept tree held them", func(t *testing.T) {
		base := firstBuild(t, src, owner, nil) // no filter: all kept
		b := newBuild(t, base, 2)
		prepare(b, excl)
		if !b.stats.Reused || b.stats.Removed == 0 {
			t.Fatalf("stats %+v: want a synced tree with entries removed", b.stats)
		}
		check(t, b.layout.App)
		b.keep()
		// and the next build without the filter brings them back
		b3 := newBuild(t, base, 3)
		prepare(b3, nil)
		fresh, _ := freshCopy(t, src, owner)
		sameTree(t, b3.layout.App, fresh)
	})
	t.Run("excluded entry changed", func(t *testing.T) {
		base := firstBuild(t, src, owner, nil)
		b := newBuild(t, base, 2)
		prepare(b, excl)
		b.keep()
		write(t, filepath.Join(src, "static", "index.html"), "<html>changed</html>", 0o644)
		must(t, os.Remove(filepath.Join(src, "lib", "b.txt")))
		b3 := newBuild(t, base, 3)
		prepare(b3, excl)
		check(t, b3.layout.App)
	})
}
