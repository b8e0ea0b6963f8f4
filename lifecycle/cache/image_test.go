package cache

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/kiln-build/kiln/lifecycle/imageio"
)

func TestImageCache(t *testing.T) {
	ctx := context.Background()
	var uploads atomic.Int32
	reg := registry.New()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/") {
			uploads.Add(1)
		}
		reg.ServeHTTP(w, r)
	}))
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/app/cache:latest"
	iio := imageio.New(nil, imageio.WithKeychain(authn.NewMultiKeychain()))
	warn := func(f string, a ...any) { t.Errorf("warning: "+f, a...) }

	c, err := Open(ctx, t.TempDir(), WithImage(iio, ref))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Save(ctx, SaveOptions{LayersDir: build(t), Group: group}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if uploads.Load() != 2 { // the layer and the config
		t.Errorf("first save uploaded %d blobs, want 2", uploads.Load())
	}

	// A new build restores from the image, leaves the layer alone and saves:
	// nothing is uploaded again.
	c, err = Open(ctx, t.TempDir(), WithImage(iio, ref))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fresh := t.TempDir()
	res, err := c.Restore(ctx, RestoreOptions{LayersDir: fresh, Group: group, Warn: warn})
	if err != nil || len(res.Contents) != 1 {
		t.Fatalf("Restore = %+v, %v", res, err)
	}
	if b, err := os.ReadFile(filepath.Join(fresh, "acme_go", "gocache", "obj", "a.o")); err != nil || string(b) != "object" {
		t.Errorf("restored %q, %v", b, err)
	}
	// The buildpack rewrites its toml with [types] as it must.
	write(t, filepath.Join(fresh, "acme_go", "gocache.toml"), "[types]\ncache = true\nbuild = true\n[metadata]\nkey = \"v1\"\n")
	before := uploads.Load()
	if err := c.Save(ctx, SaveOptions{LayersDir: fresh, Group: group}); err != nil {
		t.Fatal(err)
	}
	if n := uploads.Load() - before; n != 0 {
		t.Errorf("saving an unchanged cache uploaded %d blobs", n)
	}
	// A changed layer is uploaded.
	write(t, filepath.Join(fresh, "acme_go", "gocache", "obj", "b.o"), "new")
	before = uploads.Load()
	if err := c.Save(ctx, SaveOptions{LayersDir: fresh, Group: group}); err != nil {
		t.Fatal(err)
	}
	if n := uploads.Load() - before; n != 2 {
		t.Errorf("saving a changed layer uploaded %d blobs, want 2", n)
	}
	// Clear forgets it.
	c.Clear()
	if md, _ := c.Metadata(); len(md.Buildpacks) != 0 {
		t.Errorf("after Clear: %+v", md)
	}
}

// An untouched restored layer keeps its committed tar (hardlinked, not
// rewritten).
func TestDirCacheKeepsUntouchedTar(t *testing.T) {
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
	before, err := os.Stat(tars[0])
	if err != nil {
		t.Fatal(err)
	}
	fresh := t.TempDir()
	if _, err := c.Restore(ctx, RestoreOptions{LayersDir: fresh, Group: group, Warn: func(string, ...any) {}}); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(fresh, "acme_go", "gocache.toml"), "[types]\ncache = true\n")
	if err := c.Save(ctx, SaveOptions{LayersDir: fresh, Group: group}); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(tars[0])
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Error("the untouched layer's tar was rewritten")
	}
}
