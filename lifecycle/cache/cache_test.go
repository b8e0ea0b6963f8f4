package cache

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

func write(t *testing.T, p, s string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
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
	got, err := c.Restore(ctx, RestoreOptions{LayersDir: fresh, Group: group, Warn: warn})
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
	if got, _ := c.Restore(ctx, RestoreOptions{LayersDir: other, Group: []descriptor.GroupEntry{{ID: "x"}}, Warn: warn}); len(got) != 0 {
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
	tars, _ := filepath.Glob(filepath.Join(dir, "committed", "*.tar"))
	if len(tars) != 1 {
		t.Fatalf("tars: %v", tars)
	}
	if err := os.Truncate(tars[0], 100); err != nil {
		t.Fatal(err)
	}
	var warnings []string
	got, err := c.Restore(ctx, RestoreOptions{LayersDir: t.TempDir(), Group: group, Warn: func(f string, a ...any) {
		warnings = append(warnings, f)
	}})
	if err != nil || len(got) != 0 || len(warnings) != 1 {
		t.Errorf("Restore = %v, %v; warnings %v", got, err, warnings)
	}
	// The next save rewrites it.
	if err := c.Save(ctx, SaveOptions{LayersDir: build(t), Group: group}); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Restore(ctx, RestoreOptions{LayersDir: t.TempDir(), Group: group, Warn: func(string, ...any) {}}); len(got) != 1 {
		t.Errorf("after a new save, restored %v", got)
	}
	// Garbage metadata also only warns.
	os.WriteFile(filepath.Join(dir, "committed", "metadata.json"), []byte("{"), 0o644)
	warnings = nil
	got, err = c.Restore(ctx, RestoreOptions{LayersDir: t.TempDir(), Group: group, Warn: func(f string, a ...any) { warnings = append(warnings, f) }})
	if err != nil || len(got) != 0 || len(warnings) != 1 {
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
	if got, _ := c.Restore(ctx, RestoreOptions{LayersDir: t.TempDir(), Group: group, Warn: func(f string, a ...any) { t.Errorf(f, a...) }}); len(got) != 1 {
		t.Errorf("restored %v", got)
	}
}
