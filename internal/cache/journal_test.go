package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/internal/beneath"
)

// twoLayers is a build's layers dir with two cached layers.
func twoLayers(t *testing.T, gen string) string {
	layers := filepath.Join(t.TempDir(), "layers")
	for _, n := range []string{"gocache", "mods"} {
		write(t, filepath.Join(layers, "acme_go", n+".toml"), "[types]\ncache = true\nbuild = true\n")
		write(t, filepath.Join(layers, "acme_go", n, "data"), n+" "+gen)
	}
	return layers
}

// rebuilt is what a buildpack does to a restored layer: write its TOML
// again (restore gives back only its metadata) and, maybe, its contents.
func rebuilt(t *testing.T, layers, name, data string) {
	write(t, filepath.Join(layers, "acme_go", name+".toml"), "[types]\ncache = true\nbuild = true\n")
	if data != "" {
		write(t, filepath.Join(layers, "acme_go", name, "data"), data)
	}
}

// kill drops the cache's lock the way a killed process does: no Close,
// no GiveBack.
func kill(c *Cache) { c.lock.Close() }

// saved opens a cache at dir holding generation gen.
func saved(t *testing.T, dir, gen string) {
	t.Helper()
	ctx := context.Background()
	c, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Save(ctx, SaveOptions{LayersDir: twoLayers(t, gen), Group: group}); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// restoreInto opens the cache at dir and restores into a fresh layers
// dir, which it returns with the open cache.
func restoreInto(t *testing.T, dir string) (*Cache, string) {
	t.Helper()
	return restoreAs(t, dir, nil)
}

// restoreAs is restoreInto for a build whose user is own.
func restoreAs(t *testing.T, dir string, own *archive.Owner) (*Cache, string) {
	t.Helper()
	ctx := context.Background()
	c, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	layers := filepath.Join(t.TempDir(), "layers")
	os.MkdirAll(layers, 0o755)
	if _, err := c.Restore(ctx, RestoreOptions{LayersDir: layers, Group: group, Owner: own, Warn: func(f string, a ...any) { t.Errorf("warning: "+f, a...) }}); err != nil {
		t.Fatal(err)
	}
	return c, layers
}

// contents restores the cache at dir once more and returns what each
// layer's data file says.
func contents(t *testing.T, dir string) map[string]string {
	t.Helper()
	c, layers := restoreInto(t, dir)
	defer c.Close()
	out := map[string]string{}
	for _, n := range []string{"gocache", "mods"} {
		if b, err := os.ReadFile(filepath.Join(layers, "acme_go", n, "data")); err == nil {
			out[n] = string(b)
		}
	}
	if err := c.GiveBack(); err != nil {
		t.Fatal(err)
	}
	return out
}

func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, n := range []string{journalName, stagingName, oldName} {
		if _, err := os.Lstat(filepath.Join(dir, n)); err == nil {
			out = append(out, n)
		}
	}
	return out
}

func TestKilledBeforeBuildFinishedGivesBack(t *testing.T) {
	dir := t.TempDir()
	saved(t, dir, "gen1")
	c, layers := restoreInto(t, dir)
	// A buildpack has changed one tree and not yet the other.
	write(t, filepath.Join(layers, "acme_go", "mods", "data"), "half-written")
	kill(c)
	// The changed tree comes back from the copy kept aside.
	got := contents(t, dir)
	if diff := cmp.Diff(map[string]string{"gocache": "gocache gen1", "mods": "mods gen1"}, got); diff != "" {
		t.Errorf("after the kill (-want +got):\n%s", diff)
	}
	if l := leftovers(t, dir); l != nil {
		t.Errorf("left: %v", l)
	}
}

// A big tree is not copied aside: changed by the killed build, it is gone;
// the unchanged one comes back.
func TestKilledBigTreeChangedIsDropped(t *testing.T) {
	for _, tc := range []struct {
		name string
		grow func(dir string)
	}{
		{"bytes", func(dir string) { write(t, filepath.Join(dir, "big"), string(make([]byte, keepMaxBytes+1))) }},
		{"entries", func(dir string) {
			for i := range keepMaxEntries {
				write(t, filepath.Join(dir, "many", fmt.Sprint(i)), "")
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ctx := context.Background()
			c, err := Open(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			layers := twoLayers(t, "gen1")
			tc.grow(filepath.Join(layers, "acme_go", "mods"))
			tc.grow(filepath.Join(layers, "acme_go", "gocache"))
			if err := c.Save(ctx, SaveOptions{LayersDir: layers, Group: group}); err != nil {
				t.Fatal(err)
			}
			c.Close()
			c, layers = restoreInto(t, dir)
			if _, err := os.Stat(filepath.Join(dir, keptName)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("big trees were copied aside: %v", err)
			}
			write(t, filepath.Join(layers, "acme_go", "mods", "data"), "half-written")
			kill(c)
			got := contents(t, dir)
			if diff := cmp.Diff(map[string]string{"gocache": "gocache gen1"}, got); diff != "" {
				t.Errorf("after the kill (-want +got):\n%s", diff)
			}
		})
	}
}

// A build that fails (not killed) after changing a small tree leaves it
// as it was too.
func TestGiveBackRestoresKept(t *testing.T) {
	dir := t.TempDir()
	saved(t, dir, "gen1")
	c, layers := restoreInto(t, dir)
	write(t, filepath.Join(layers, "acme_go", "mods", "data"), "changed")
	if err := c.GiveBack(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if diff := cmp.Diff(map[string]string{"gocache": "gocache gen1", "mods": "mods gen1"}, contents(t, dir)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if l := leftovers(t, dir); l != nil {
		t.Errorf("left: %v", l)
	}
}

func TestKilledAfterBuildFinishedKeepsTheBuild(t *testing.T) {
	dir := t.TempDir()
	saved(t, dir, "gen1")
	c, layers := restoreInto(t, dir)
	rebuilt(t, layers, "gocache", "")
	rebuilt(t, layers, "mods", "mods gen2")
	write(t, filepath.Join(layers, "acme_go", "new.toml"), "[types]\ncache = true\n")
	write(t, filepath.Join(layers, "acme_go", "new", "data"), "new")
	write(t, filepath.Join(layers, buildDoneRel), "")
	kill(c) // during export, say
	got := contents(t, dir)
	want := map[string]string{"gocache": "gocache gen1", "mods": "mods gen2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after the kill (-want +got):\n%s", diff)
	}
	c, _ = restoreInto(t, dir)
	md, _ := c.Metadata(context.Background())
	c.GiveBack()
	c.Close()
	if _, ok := md.Trees["acme/go:new"]; !ok {
		t.Errorf("the finished build's new layer was not kept: %v", md.Trees)
	}
}

// A save killed after it moved some trees into staging/ is finished by
// the next Open.
func TestKilledDuringSaveIsFinished(t *testing.T) {
	dir := t.TempDir()
	saved(t, dir, "gen1")
	c, layers := restoreInto(t, dir)
	rebuilt(t, layers, "gocache", "")
	rebuilt(t, layers, "mods", "mods gen2")
	// What Save does, up to the kill after its first move.
	o := SaveOptions{LayersDir: layers, Group: group}
	ls, bps, err := c.collect(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	staging := filepath.Join(dir, stagingName)
	os.MkdirAll(staging, 0o755)
	for i, l := range ls {
		fp, _ := fingerprint(l.dir)
		tree := Tree{Dir: filepath.Base(l.name) + ".d", Fingerprint: fp}
		if err := c.journalSave(layers, l, find(bps, l.id).Version, tree); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if err := os.Rename(l.dir, filepath.Join(staging, tree.Dir)); err != nil {
				t.Fatal(err)
			}
		}
	}
	kill(c)
	got := contents(t, dir)
	want := map[string]string{"gocache": "gocache gen1", "mods": "mods gen2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after the kill (-want +got):\n%s", diff)
	}
	if l := leftovers(t, dir); l != nil {
		t.Errorf("left: %v", l)
	}
}

// A swap of generations cut in the middle is completed or undone.
func TestKilledDuringSwap(t *testing.T) {
	for _, tc := range []struct {
		name string
		cut  func(t *testing.T, dir string)
		want string
	}{
		{"staging complete, committed moved away", func(t *testing.T, dir string) {
			staging := filepath.Join(dir, stagingName)
			copyDir(t, filepath.Join(dir, committedName), staging)
			for _, p := range globT(t, filepath.Join(staging, "*.d", "data")) {
				b, _ := os.ReadFile(p)
				fi, _ := os.Stat(p)
				os.WriteFile(p, append(b[:len(b)-1], '2'), 0o644)
				os.Chtimes(p, fi.ModTime(), fi.ModTime())
			}
			fixFingerprints(t, staging)
			os.Rename(filepath.Join(dir, committedName), filepath.Join(dir, oldName))
		}, "gen2"},
		{"only old", func(t *testing.T, dir string) {
			os.Rename(filepath.Join(dir, committedName), filepath.Join(dir, oldName))
		}, "gen1"},
		{"incomplete staging", func(t *testing.T, dir string) {
			os.MkdirAll(filepath.Join(dir, stagingName, "0.d"), 0o755)
		}, "gen1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			saved(t, dir, "gen1")
			tc.cut(t, dir)
			got := contents(t, dir)
			want := map[string]string{"gocache": "gocache " + tc.want, "mods": "mods " + tc.want}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if l := leftovers(t, dir); l != nil {
				t.Errorf("left: %v", l)
			}
		})
	}
}

// A dead build's layers dir where a link stands in for a buildpack's dir
// is not followed: nothing outside is moved into the cache.
func TestReplayRefusesLinks(t *testing.T) {
	dir := t.TempDir()
	saved(t, dir, "gen1")
	c, layers := restoreInto(t, dir)
	outside := t.TempDir()
	os.Rename(filepath.Join(layers, "acme_go"), filepath.Join(outside, "acme_go"))
	os.Symlink(filepath.Join(outside, "acme_go"), filepath.Join(layers, "acme_go"))
	kill(c)
	// What comes back are the copies kept aside, not what is behind the link.
	if diff := cmp.Diff(map[string]string{"gocache": "gocache gen1", "mods": "mods gen1"}, contents(t, dir)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(outside, "acme_go", "mods", "data")); err != nil {
		t.Errorf("the files behind the link were moved: %v", err)
	}
}

func TestReclaim(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	dir := filepath.Join(root, "app")
	saved(t, dir, "gen1")
	c, layers := restoreInto(t, dir)
	work := filepath.Dir(layers)
	if err := Reclaim(ctx, root, work); !errors.Is(err, ErrBusy) {
		t.Fatalf("Reclaim of a running build's dir: %v, want ErrBusy", err)
	}
	kill(c)
	// Another app's cache that names nothing there is not touched.
	other := filepath.Join(root, "other")
	saved(t, other, "x")
	busy, err := Open(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if err := Reclaim(ctx, root, work); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(layers, "acme_go", "mods")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Reclaim left the tree in the work dir: %v", err)
	}
	os.RemoveAll(work)
	if diff := cmp.Diff(map[string]string{"gocache": "gocache gen1", "mods": "mods gen1"}, contents(t, dir)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestEvictAndList(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	for _, n := range []string{"a", "b"} {
		saved(t, filepath.Join(root, n), n)
	}
	busy, err := Open(ctx, filepath.Join(root, "b"))
	if err != nil {
		t.Fatal(err)
	}
	list, err := List(root)
	if err != nil || len(list) != 2 {
		t.Fatalf("List = %v, %v", list, err)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Dir < list[j].Dir })
	if !list[1].LastUse.After(list[0].LastUse) && !list[1].LastUse.Equal(list[0].LastUse) {
		t.Errorf("b was used last: %v", list)
	}
	for _, u := range list {
		if u.Size < 8<<10 {
			t.Errorf("%s: size %d", u.Dir, u.Size)
		}
	}
	if _, err := Evict(filepath.Join(root, "b")); !errors.Is(err, ErrBusy) {
		t.Errorf("Evict of a cache in use: %v", err)
	}
	freed, err := Evict(filepath.Join(root, "a"))
	if err != nil || freed < list[0].Size/2 {
		t.Errorf("Evict = %d, %v (size %d)", freed, err, list[0].Size)
	}
	if _, err := os.Stat(filepath.Join(root, "a")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("evicted cache still there: %v", err)
	}
	busy.Close()
	// A build waiting on an evicted cache's lock gets a fresh cache.
	held, err := Open(ctx, filepath.Join(root, "b"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan *Cache)
	go func() {
		c, err := Open(ctx, filepath.Join(root, "b"))
		if err != nil {
			t.Error(err)
		}
		done <- c
	}()
	kill(held)
	c := <-done
	c.Close()
}

func fingerprint(dir string) (string, error) { return archive.Fingerprint(dir, nil, "") }

func globT(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil || len(m) == 0 {
		t.Fatalf("glob %s: %v %v", pattern, m, err)
	}
	return m
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(to, fi.Mode())
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(to, b, fi.Mode()); err != nil {
			return err
		}
		return os.Chtimes(to, fi.ModTime(), fi.ModTime())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// fixFingerprints rewrites dir's index with its trees' fingerprints.
func fixFingerprints(t *testing.T, dir string) {
	t.Helper()
	var md Metadata
	b, _ := os.ReadFile(filepath.Join(dir, metadataName))
	if err := json.Unmarshal(b, &md); err != nil {
		t.Fatal(err)
	}
	for k, tr := range md.Trees {
		fp, err := fingerprint(filepath.Join(dir, tr.Dir))
		if err != nil {
			t.Fatal(err)
		}
		tr.Fingerprint = fp
		md.Trees[k] = tr
	}
	if err := writeMetadata(dir, md); err != nil {
		t.Fatal(err)
	}
}

// A tree handed to the killed build's user goes back with its new owner,
// and the index says so: the next build restores it without a warning.
func TestKilledAfterChownGivesBack(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	dir := t.TempDir()
	saved(t, dir, "gen1")
	c, _ := restoreAs(t, dir, &archive.Owner{UID: 4242, GID: 4343})
	kill(c)
	if diff := cmp.Diff(map[string]string{"gocache": "gocache gen1", "mods": "mods gen1"}, contents(t, dir)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A killed build that put a link in place of its whole layers dir does not
// lead the replay to what the link points to.
func TestReplayRefusesLinkedLayersDir(t *testing.T) {
	dir := t.TempDir()
	saved(t, dir, "gen1")
	c, layers := restoreInto(t, dir)
	outside := filepath.Join(t.TempDir(), "layers")
	if err := os.Rename(layers, outside); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, layers); err != nil {
		t.Fatal(err)
	}
	kill(c)
	if diff := cmp.Diff(map[string]string{"gocache": "gocache gen1", "mods": "mods gen1"}, contents(t, dir)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(outside, "acme_go", "mods", "data")); err != nil {
		t.Errorf("the files behind the link were moved: %v", err)
	}
}

// GiveBack of a live build that failed does not move what a link the
// build planted leads to: it names the link, and the kept copies return.
func TestGiveBackRefusesLinks(t *testing.T) {
	dir := t.TempDir()
	saved(t, dir, "gen1")
	c, layers := restoreInto(t, dir)
	outside := t.TempDir()
	if err := os.Rename(filepath.Join(layers, "acme_go"), filepath.Join(outside, "acme_go")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "acme_go"), filepath.Join(layers, "acme_go")); err != nil {
		t.Fatal(err)
	}
	if err := c.GiveBack(); err == nil || !errors.Is(err, beneath.ErrSymlink) {
		t.Errorf("GiveBack = %v, want an error naming the link", err)
	}
	c.Close()
	if _, err := os.Stat(filepath.Join(outside, "acme_go", "mods", "data")); err != nil {
		t.Errorf("the files behind the link were moved: %v", err)
	}
	if diff := cmp.Diff(map[string]string{"gocache": "gocache gen1", "mods": "mods gen1"}, contents(t, dir)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// Names in a journal are dir names in committed/ and staging/, never
// paths: a record naming ".." or "a/b" is left out of the replay.
func TestReplayRefusesPathsAsNames(t *testing.T) {
	for _, bad := range []string{"", ".", "..", "../x", "a/b"} {
		if oneElement(bad) {
			t.Errorf("oneElement(%q) = true", bad)
		}
	}
	dir := t.TempDir()
	saved(t, dir, "gen1")
	c, layers := restoreInto(t, dir)
	kill(c)
	// A journal whose records name paths instead of dirs.
	f, err := os.OpenFile(filepath.Join(dir, journalName), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []record{
		{Op: opMove, Key: "acme/go:x", Tree: "..", Layer: filepath.Join(layers, "acme_go", "mods")},
		{Op: opMove, Key: "acme/go:y", Tree: "../escape", Layer: filepath.Join(layers, "acme_go", "gocache")},
	} {
		b, _ := json.Marshal(r)
		f.Write(append(b, '\n'))
	}
	f.Close()
	if diff := cmp.Diff(map[string]string{"gocache": "gocache gen1", "mods": "mods gen1"}, contents(t, dir)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := os.Lstat(filepath.Join(dir, "escape")); err == nil {
		t.Errorf("a tree was moved out of committed/")
	}
}

// A build that restored before it detected (AnyBuildpack) and was killed
// after its build phase is saved with the group Detected recorded; killed
// before Detected, its trees go back as they were, never replaced by an
// empty save.
func TestKilledAfterRestoreBeforeDetect(t *testing.T) {
	for _, detected := range []bool{true, false} {
		t.Run(fmt.Sprintf("detected=%v", detected), func(t *testing.T) {
			dir := t.TempDir()
			saved(t, dir, "gen1")
			ctx := context.Background()
			c, err := Open(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			layers := filepath.Join(t.TempDir(), "layers")
			os.MkdirAll(layers, 0o755)
			if _, err := c.Restore(ctx, RestoreOptions{LayersDir: layers, AnyBuildpack: true, Warn: func(f string, a ...any) { t.Errorf(f, a...) }}); err != nil {
				t.Fatal(err)
			}
			rebuilt(t, layers, "gocache", "")
			rebuilt(t, layers, "mods", "mods gen2")
			write(t, filepath.Join(layers, buildDoneRel), "")
			if detected {
				if err := c.Detected(layers, group); err != nil {
					t.Fatal(err)
				}
			}
			kill(c)
			want := map[string]string{"gocache": "gocache gen1", "mods": "mods gen2"}
			if !detected {
				// Given back: mods changed in the build, so its kept copy
				// or nothing comes back; gocache as it was.
				want = map[string]string{"gocache": "gocache gen1", "mods": "mods gen1"}
			}
			if diff := cmp.Diff(want, contents(t, dir)); diff != "" {
				t.Errorf("after the kill (-want +got):\n%s", diff)
			}
		})
	}
}

// size measures a settled cache once per state: a second call reads the
// memo (a file added where only a walk would see it is not counted), and
// a change in a side dir (the app's kept workspace, replaced by rename)
// measures again.
func TestSizeMemoWithSideDirs(t *testing.T) {
	dir := t.TempDir()
	saved(t, dir, "gen1")
	side := filepath.Join(dir, SideDirs[0])
	write(t, filepath.Join(side, "tree", "f"), "x")
	first := size(dir)
	trees, _ := filepath.Glob(filepath.Join(dir, committedName, "*.d"))
	if len(trees) == 0 {
		t.Fatal("no committed trees")
	}
	write(t, filepath.Join(trees[0], "unseen"), strings.Repeat("x", 64<<10))
	if got := size(dir); got != first {
		t.Errorf("settled cache measured again: %d, then %d", first, got)
	}
	time.Sleep(10 * time.Millisecond)
	write(t, filepath.Join(side, ".new", "f"), strings.Repeat("y", 64<<10))
	if err := os.Rename(filepath.Join(side, ".new"), filepath.Join(side, "tree2")); err != nil {
		t.Fatal(err)
	}
	if got := size(dir); got <= first {
		t.Errorf("after the side dir changed: size %d, was %d", got, first)
	}
}

// A failed build under another id range than the one that saved the cache
// gives its trees back with their new owners; the index learns them, so
// the next build restores them instead of rejecting them as changed.
func TestGiveBackAfterChown(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	dir := t.TempDir()
	saved(t, dir, "gen1")
	c, _ := restoreAs(t, dir, &archive.Owner{UID: 4242, GID: 4343})
	if err := c.GiveBack(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if diff := cmp.Diff(map[string]string{"gocache": "gocache gen1", "mods": "mods gen1"}, contents(t, dir)); diff != "" {
		t.Errorf("after the give-back (-want +got):\n%s", diff)
	}
}
