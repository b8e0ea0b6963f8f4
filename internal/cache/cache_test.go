package cache

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/internal/testutil"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// write writes s to p (mode 0644), making its parents.
func write(t *testing.T, p, s string) {
	t.Helper()
	testutil.WriteFile(t, p, s, 0o644)
}

var group = []descriptor.GroupEntry{{ID: "acme/go", Version: "1"}}

func build(t *testing.T) string {
	layers := t.TempDir()
	write(t, filepath.Join(layers, "acme_go", "gocache.toml"), "[types]\ncache = true\nbuild = true\n[metadata]\nkey = \"v1\"\n")
	write(t, filepath.Join(layers, "acme_go", "gocache", "obj", "a.o"), "object")
	write(t, filepath.Join(layers, "acme_go", "bin.toml"), "[types]\nlaunch = true\n")
	write(t, filepath.Join(layers, "acme_go", "bin", "app"), "app")
	return layers
}

func TestSaveRestore(t *testing.T) {
	ctx := context.Background()
	c, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Save(ctx, SaveOptions{LayersDir: build(t), Group: group}); err != nil {
		t.Fatal(err)
	}
	fresh := t.TempDir()
	var warnings []string
	warn := func(f string, a ...any) { warnings = append(warnings, f) }
	res, err := c.Restore(ctx, RestoreOptions{LayersDir: fresh, Group: group, Warn: warn})
	got := res.Contents
	if err != nil || len(got) != 1 || got[0] != "acme/go:gocache" {
		t.Fatalf("Restore = %v, %v", got, err)
	}
	b, err := os.ReadFile(filepath.Join(fresh, "acme_go", "gocache", "obj", "a.o"))
	if err != nil || string(b) != "object" {
		t.Errorf("restored content %q, %v", b, err)
	}
	toml, _ := os.ReadFile(filepath.Join(fresh, "acme_go", "gocache.toml"))
	if strings.Contains(string(toml), "types") || !strings.Contains(string(toml), `key = "v1"`) {
		t.Errorf("restored toml:\n%s", toml)
	}
	if _, err := os.Stat(filepath.Join(fresh, "acme_go", "bin")); !os.IsNotExist(err) {
		t.Error("a launch-only layer's contents came from the cache")
	}
	// Another group gets nothing.
	other := t.TempDir()
	if got, _ := c.Restore(ctx, RestoreOptions{LayersDir: other, Group: []descriptor.GroupEntry{{ID: "x"}}, Warn: warn}); len(got.Contents) != 0 {
		t.Errorf("restored %v for another group", got)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}
}

func TestCorruptEntryWarnsAndIsSkipped(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Save(ctx, SaveOptions{LayersDir: build(t), Group: group}); err != nil {
		t.Fatal(err)
	}
	objs, _ := filepath.Glob(filepath.Join(dir, "committed", "*.d", "obj", "a.o"))
	if len(objs) != 1 {
		t.Fatalf("cached files: %v", objs)
	}
	if err := os.WriteFile(objs[0], []byte("tampered, longer"), 0o644); err != nil {
		t.Fatal(err)
	}
	var warnings []string
	got, err := c.Restore(ctx, RestoreOptions{LayersDir: t.TempDir(), Group: group, Warn: func(f string, a ...any) {
		warnings = append(warnings, f)
	}})
	if err != nil || len(got.Contents) != 0 || len(warnings) != 1 {
		t.Errorf("Restore = %v, %v; warnings %v", got, err, warnings)
	}
	// The next save rewrites it.
	if err := c.Save(ctx, SaveOptions{LayersDir: build(t), Group: group}); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Restore(ctx, RestoreOptions{LayersDir: t.TempDir(), Group: group, Warn: func(string, ...any) {}}); len(got.Contents) != 1 {
		t.Errorf("after a new save, restored %v", got)
	}
	// Garbage metadata also only warns.
	os.WriteFile(filepath.Join(dir, "committed", "metadata.json"), []byte("{"), 0o644)
	warnings = nil
	got, err = c.Restore(ctx, RestoreOptions{LayersDir: t.TempDir(), Group: group, Warn: func(f string, a ...any) { warnings = append(warnings, f) }})
	if err != nil || len(got.Contents) != 0 || len(warnings) != 1 {
		t.Errorf("bad metadata: %v %v %v", got, err, warnings)
	}
}

func TestConcurrentSaves(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		layers := build(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Open(ctx, dir)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			errs <- c.Save(ctx, SaveOptions{LayersDir: layers, Group: group})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	c, _ := Open(ctx, dir)
	defer c.Close()
	if got, _ := c.Restore(ctx, RestoreOptions{LayersDir: t.TempDir(), Group: group, Warn: func(f string, a ...any) { t.Errorf(f, a...) }}); len(got.Contents) != 1 {
		t.Errorf("restored %v", got)
	}
}

// The restore table: the previous image's metadata wins; launch-only
// layers get metadata without contents; launch+cache layers need the same
// diffID in the cache.
func TestRestoreWithPreviousImage(t *testing.T) {
	ctx := context.Background()
	c, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	layers := build(t)
	write(t, filepath.Join(layers, "acme_go", "deps.toml"), "[types]\ncache = true\nlaunch = true\n[metadata]\nk = \"cache\"\n")
	write(t, filepath.Join(layers, "acme_go", "deps", "d"), "deps")
	write(t, filepath.Join(layers, "acme_go", "stale.toml"), "[types]\ncache = true\nlaunch = true\n")
	write(t, filepath.Join(layers, "acme_go", "stale", "s"), "s")
	if err := c.Save(ctx, SaveOptions{LayersDir: layers, Group: group}); err != nil {
		t.Fatal(err)
	}
	md, _ := c.Metadata(context.Background())
	deps := md.Buildpacks[0].Layers["deps"]
	prev := &labels.Lifecycle{Buildpacks: []labels.BuildpackEntry{{
		Key: "acme/go", Version: "1",
		Layers: map[string]labels.LayerMetadata{
			"bin":   {SHA: "sha256:aaaa", Launch: true, Data: map[string]any{"v": "prev"}},
			"deps":  {SHA: deps.SHA, Launch: true, Cache: true, Data: map[string]any{"k": "image"}},
			"stale": {SHA: "sha256:bbbb", Launch: true, Cache: true},
		},
		Store: &labels.Store{Metadata: map[string]any{"runs": int64(3)}},
	}}}
	fresh := t.TempDir()
	res, err := c.Restore(ctx, RestoreOptions{LayersDir: fresh, Group: group, Previous: prev, Warn: func(f string, a ...any) { t.Errorf(f, a...) }})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(Restored{Contents: []string{"acme/go:deps", "acme/go:gocache"}, MetadataOnly: []string{"acme/go:bin"}}, res); d != "" {
		t.Errorf("restored (-want +got):\n%s", d)
	}
	bp := filepath.Join(fresh, "acme_go")
	for _, tc := range []struct{ file, want string }{
		{"bin.toml", `v = "prev"`},
		{"deps.toml", `k = "image"`},
		{"deps/d", "deps"},
		{"store.toml", "runs = 3"},
	} {
		b, err := os.ReadFile(filepath.Join(bp, tc.file))
		if err != nil || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s = %q, %v; want %q", tc.file, b, err, tc.want)
		}
	}
	for _, absent := range []string{"bin", "stale", "stale.toml"} {
		if _, err := os.Stat(filepath.Join(bp, absent)); !os.IsNotExist(err) {
			t.Errorf("%s restored", absent)
		}
	}
}

// Layer names in a previous image's label are not trusted as paths: one
// that would lead out of the buildpack's dir is skipped with a warning.
func TestRestoreRefusesPathsAsLayerNames(t *testing.T) {
	ctx := context.Background()
	c, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	prev := &labels.Lifecycle{Buildpacks: []labels.BuildpackEntry{{
		Key: "acme/go", Version: "1",
		Layers: map[string]labels.LayerMetadata{
			"../../escape": {SHA: "sha256:aaaa", Launch: true, Data: map[string]any{"v": "x"}},
			"..":           {SHA: "sha256:aaaa", Launch: true},
			"bin":          {SHA: "sha256:aaaa", Launch: true},
		},
	}}}
	base := t.TempDir()
	fresh := filepath.Join(base, "a", "layers")
	os.MkdirAll(fresh, 0o755)
	var warned []string
	res, err := c.Restore(ctx, RestoreOptions{LayersDir: fresh, Group: group, Previous: prev, Warn: func(f string, a ...any) { warned = append(warned, fmt.Sprintf(f, a...)) }})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(Restored{MetadataOnly: []string{"acme/go:bin"}}, res); d != "" {
		t.Errorf("restored (-want +got):\n%s", d)
	}
	if len(warned) != 2 {
		t.Errorf("warnings %q, want 2", warned)
	}
	for _, p := range []string{filepath.Join(base, "a", "escape.toml"), filepath.Join(fresh, "acme_go", "..toml"), filepath.Join(fresh, "..toml")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s written", p)
		}
	}
}

// AnyBuildpack restores what the cache and the previous image hold for
// every buildpack they name, before the group is known, and skips ids
// that would not stay a dir name below the layers dir.
func TestRestoreAnyBuildpack(t *testing.T) {
	ctx := context.Background()
	c, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Save(ctx, SaveOptions{LayersDir: build(t), Group: group}); err != nil {
		t.Fatal(err)
	}
	prev := &labels.Lifecycle{Buildpacks: []labels.BuildpackEntry{
		{Key: "acme/web", Version: "2", Layers: map[string]labels.LayerMetadata{"srv": {SHA: "sha256:aaaa", Launch: true, Data: map[string]any{"v": "1"}}}},
		{Key: "..", Version: "1", Layers: map[string]labels.LayerMetadata{"up": {SHA: "sha256:bbbb", Launch: true}}},
		{Key: "acme/go", Version: "1"},
	}}
	fresh := filepath.Join(t.TempDir(), "layers")
	if err := os.Mkdir(fresh, 0o755); err != nil {
		t.Fatal(err)
	}
	res, err := c.Restore(ctx, RestoreOptions{LayersDir: fresh, AnyBuildpack: true, Previous: prev, Warn: func(f string, a ...any) { t.Errorf(f, a...) }})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(Restored{Contents: []string{"acme/go:gocache"}, MetadataOnly: []string{"acme/web:srv"}}, res); d != "" {
		t.Errorf("restored (-want +got):\n%s", d)
	}
	entries, _ := os.ReadDir(filepath.Dir(fresh))
	if len(entries) != 1 {
		t.Errorf("restore wrote beside the layers dir: %v", entries)
	}
}
