package cache

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// countingRegistry is an in-process registry that counts what moves:
// layer blobs fetched (config blobs are told apart by the manifests pushed
// through it), blob uploads and manifest pushes. failPush makes every
// write fail, broken every request.
type countingRegistry struct {
	ref                              string
	iio                              *imageio.IO
	layerGets, uploads, manifestPuts atomic.Int32
	upBytes                          atomic.Int64
	failPush, broken                 atomic.Bool

	mu      sync.Mutex
	configs map[string]bool
}

func newCountingRegistry(t *testing.T) *countingRegistry {
	t.Helper()
	r := &countingRegistry{configs: map[string]bool{}}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		write := req.Method == http.MethodPut || req.Method == http.MethodPost || req.Method == http.MethodPatch
		switch {
		case r.broken.Load():
			http.Error(w, "broken on purpose", http.StatusNotImplemented)
			return
		case write && r.failPush.Load():
			http.Error(w, "failing on purpose", http.StatusNotImplemented)
			return
		case req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/manifests/"):
			body, _ := io.ReadAll(req.Body)
			var m struct {
				Config struct{ Digest string } `json:"config"`
			}
			if json.Unmarshal(body, &m) == nil {
				r.mu.Lock()
				r.configs[m.Config.Digest] = true
				r.mu.Unlock()
			}
			req.Body = io.NopCloser(bytes.NewReader(body))
			r.manifestPuts.Add(1)
		case req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/blobs/uploads/"):
			r.uploads.Add(1)
			fallthrough
		case req.Method == http.MethodPatch && strings.Contains(req.URL.Path, "/blobs/uploads/"):
			body, _ := io.ReadAll(req.Body)
			r.upBytes.Add(int64(len(body)))
			req.Body = io.NopCloser(bytes.NewReader(body))
		case req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/sha256:"):
			r.mu.Lock()
			config := r.configs[path.Base(req.URL.Path)]
			r.mu.Unlock()
			if !config {
				r.layerGets.Add(1)
			}
		}
		reg.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.ref = strings.TrimPrefix(srv.URL, "http://") + "/app/cache:latest"
	r.iio = imageio.New(nil, imageio.WithKeychain(authn.NewMultiKeychain()))
	return r
}

// digest is the cache image's digest in the registry.
func (r *countingRegistry) digest(t *testing.T) string {
	t.Helper()
	img, err := r.iio.Remote(context.Background(), r.ref)
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// label is the index in the registry's cache image.
func (r *countingRegistry) label(t *testing.T) Metadata {
	t.Helper()
	img, err := r.iio.Remote(context.Background(), r.ref)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	var md Metadata
	if _, err := labels.Decode(cfg, ImageMetadataLabel, &md); err != nil {
		t.Fatal(err)
	}
	return md
}

// counts is what moved since the last call: layer blobs fetched, blobs
// uploaded, manifests pushed.
type counts struct{ gets, uploads, manifests int32 }

func (r *countingRegistry) take() counts {
	return counts{r.layerGets.Swap(0), r.uploads.Swap(0), r.manifestPuts.Swap(0)}
}

// machine is one host: its own local cache dir for the app.
type machine struct {
	reg *countingRegistry
	dir string
}

func (r *countingRegistry) machine(t *testing.T) machine {
	return machine{reg: r, dir: t.TempDir()}
}

// restore opens the machine's cache with the image and restores into a
// fresh layers dir; any warning fails the test.
func (m machine) restore(t *testing.T) (*Cache, string) {
	t.Helper()
	ctx := context.Background()
	c, err := Open(ctx, m.dir, WithImage(m.reg.iio, m.reg.ref))
	if err != nil {
		t.Fatal(err)
	}
	layers := filepath.Join(t.TempDir(), "layers")
	os.MkdirAll(layers, 0o755)
	if _, err := c.Restore(ctx, RestoreOptions{LayersDir: layers, Group: group, Warn: func(f string, a ...any) { t.Errorf("warning: "+f, a...) }}); err != nil {
		t.Fatal(err)
	}
	return c, layers
}

// build restores, lets the buildpack write its layers again (data "" leaves
// a layer's contents alone), saves and closes.
func (m machine) build(t *testing.T, gocache, mods string) {
	t.Helper()
	c, layers := m.restore(t)
	rebuilt(t, layers, "gocache", gocache)
	rebuilt(t, layers, "mods", mods)
	if err := c.Save(context.Background(), SaveOptions{LayersDir: layers, Group: group}); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// first is the first build of the app anywhere: nothing to restore.
func (m machine) first(t *testing.T, gen string) {
	t.Helper()
	c, _ := m.restore(t)
	if err := c.Save(context.Background(), SaveOptions{LayersDir: twoLayers(t, gen), Group: group}); err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// contents restores once more and says what each layer holds, then gives
// the trees back.
func (m machine) contents(t *testing.T) map[string]string {
	t.Helper()
	c, layers := m.restore(t)
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

// claim is the cache image digest the machine's local index names.
func (m machine) claim(t *testing.T) string {
	t.Helper()
	c := &Cache{dir: m.dir}
	md, err := c.dirMetadata()
	if err != nil {
		t.Fatal(err)
	}
	return md.Image
}

func gen(n string) map[string]string {
	return map[string]string{"gocache": "gocache " + n, "mods": "mods " + n}
}

// On the machine that saved last, a rebuild takes its layers from the
// local trees (moved, not copied; no layer blob fetched) and pushes
// nothing when nothing changed, and only the changed layer otherwise.
func TestImageCacheSameMachineIsLocal(t *testing.T) {
	reg := newCountingRegistry(t)
	a := reg.machine(t)
	a.first(t, "gen1")
	if got := reg.take(); got != (counts{0, 3, 1}) { // two layers and the config
		t.Errorf("first build moved %+v, want 3 uploads and a manifest", got)
	}
	if a.claim(t) != reg.digest(t) {
		t.Errorf("local index claims %q, the registry has %s", a.claim(t), reg.digest(t))
	}

	// A no-op rebuild.
	saved := globT(t, filepath.Join(a.dir, committedName, "*.d", "data"))
	before, err := os.Stat(saved[0])
	if err != nil {
		t.Fatal(err)
	}
	c, layers := a.restore(t)
	var moved bool
	for _, n := range []string{"gocache", "mods"} {
		if after, err := os.Stat(filepath.Join(layers, "acme_go", n, "data")); err == nil && os.SameFile(before, after) {
			moved = true
		}
	}
	if !moved {
		t.Error("the restored layer is not the local tree")
	}
	rebuilt(t, layers, "gocache", "")
	rebuilt(t, layers, "mods", "")
	// Save knows an unchanged layer by its fingerprint and reuses its blob
	// without reading the tree: a file rewritten to the same size and time
	// goes unseen (as in the dir cache).
	data := filepath.Join(layers, "acme_go", "gocache", "data")
	fi, err := os.Stat(data)
	if err != nil {
		t.Fatal(err)
	}
	write(t, data, strings.Repeat("x", int(fi.Size())))
	os.Chtimes(data, fi.ModTime(), fi.ModTime())
	if err := c.Save(context.Background(), SaveOptions{LayersDir: layers, Group: group}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if got := reg.take(); got != (counts{}) {
		t.Errorf("no-op rebuild moved %+v, want nothing", got)
	}
	if diff := cmp.Diff(gen("gen1"), reg.machine(t).contents(t)); diff != "" {
		t.Errorf("another machine restored (-want +got):\n%s", diff)
	}
	reg.take()
	for _, p := range globT(t, filepath.Join(a.dir, committedName, "*.d", "data")) {
		if b, _ := os.ReadFile(p); string(b) == strings.Repeat("x", int(fi.Size())) {
			write(t, p, "gocache gen1")
			os.Chtimes(p, fi.ModTime(), fi.ModTime())
		}
	}

	// One layer changed: it and the config are the uploads.
	a.build(t, "", "mods gen2")
	if got := reg.take(); got != (counts{0, 2, 1}) {
		t.Errorf("rebuild with one changed layer moved %+v, want 2 uploads and a manifest", got)
	}
	if a.claim(t) != reg.digest(t) {
		t.Errorf("local index claims %q, the registry has %s", a.claim(t), reg.digest(t))
	}
	// The registry has it: another machine restores it.
	want := map[string]string{"gocache": "gocache gen1", "mods": "mods gen2"}
	if diff := cmp.Diff(want, reg.machine(t).contents(t)); diff != "" {
		t.Errorf("another machine restored (-want +got):\n%s", diff)
	}
	if got := reg.take(); got.gets != 2 {
		t.Errorf("another machine fetched %d layer blobs, want 2", got.gets)
	}
	if diff := cmp.Diff(want, a.contents(t)); diff != "" {
		t.Errorf("restored (-want +got):\n%s", diff)
	}
	if got := reg.take(); got != (counts{}) {
		t.Errorf("restoring again moved %+v", got)
	}
}

// When another machine saved last, the local trees are not used: the
// layers come from the image, and the local copy becomes that image's.
func TestImageCacheOtherMachineSavedLast(t *testing.T) {
	reg := newCountingRegistry(t)
	a, b := reg.machine(t), reg.machine(t)
	a.first(t, "gen1")
	reg.take()
	b.build(t, "", "mods b")
	if got := reg.take(); got != (counts{2, 2, 1}) {
		t.Errorf("the other machine's build moved %+v, want 2 layer fetches, 2 uploads and a manifest", got)
	}
	// a's trees are of gen1; the registry's image is b's.
	c, layers := a.restore(t)
	if got := reg.take(); got.gets != 2 {
		t.Errorf("restore after another machine's save fetched %d layer blobs, want 2", got.gets)
	}
	got := map[string]string{}
	for _, n := range []string{"gocache", "mods"} {
		b, _ := os.ReadFile(filepath.Join(layers, "acme_go", n, "data"))
		got[n] = string(b)
	}
	if diff := cmp.Diff(map[string]string{"gocache": "gocache gen1", "mods": "mods b"}, got); diff != "" {
		t.Errorf("restored (-want +got):\n%s", diff)
	}
	rebuilt(t, layers, "gocache", "")
	rebuilt(t, layers, "mods", "")
	if err := c.Save(context.Background(), SaveOptions{LayersDir: layers, Group: group}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	// Nothing changed: the image is b's, and a's trees are now its.
	if got := reg.take(); got != (counts{}) {
		t.Errorf("unchanged save moved %+v", got)
	}
	if a.claim(t) != reg.digest(t) {
		t.Errorf("local index claims %q, the registry has %s", a.claim(t), reg.digest(t))
	}
	a.contents(t)
	if got := reg.take(); got.gets != 0 {
		t.Errorf("the next restore fetched %d layer blobs", got.gets)
	}
}

// A push that fails leaves a local generation that claims no image: the
// next build here restores what the registry has, as any machine would,
// and its save puts the registry right again.
func TestImageCachePushFails(t *testing.T) {
	reg := newCountingRegistry(t)
	a := reg.machine(t)
	a.first(t, "gen1")
	d1 := reg.digest(t)
	c, layers := a.restore(t)
	rebuilt(t, layers, "gocache", "")
	rebuilt(t, layers, "mods", "mods gen2")
	reg.failPush.Store(true)
	if err := c.Save(context.Background(), SaveOptions{LayersDir: layers, Group: group}); err == nil {
		t.Fatal("Save succeeded with a failing registry")
	}
	c.Close()
	reg.failPush.Store(false)
	if got := a.claim(t); got != "" {
		t.Errorf("after a failed push, the local index claims %s", got)
	}
	if reg.digest(t) != d1 {
		t.Fatal("the failed push changed the registry's image")
	}
	reg.take()
	if diff := cmp.Diff(gen("gen1"), a.contents(t)); diff != "" {
		t.Errorf("after a failed push (-want +got):\n%s", diff)
	}
	if got := reg.take(); got.gets != 2 {
		t.Errorf("restore after a failed push fetched %d layer blobs, want 2", got.gets)
	}
	a.build(t, "", "mods gen3")
	if a.claim(t) != reg.digest(t) || reg.digest(t) == d1 {
		t.Errorf("local index claims %q, the registry has %s (was %s)", a.claim(t), reg.digest(t), d1)
	}
	if diff := cmp.Diff(map[string]string{"gocache": "gocache gen1", "mods": "mods gen3"}, reg.machine(t).contents(t)); diff != "" {
		t.Errorf("another machine restored (-want +got):\n%s", diff)
	}
}

// A build killed at any moment leaves a cache the next one uses: the
// journal gives the trees back (the local copy stays the image's) or
// saves the dead build locally (then it is not the image's: the next
// build restores from the image).
func TestImageCacheKilled(t *testing.T) {
	t.Run("before build finished", func(t *testing.T) {
		reg := newCountingRegistry(t)
		a := reg.machine(t)
		a.first(t, "gen1")
		c, layers := a.restore(t)
		write(t, filepath.Join(layers, "acme_go", "mods", "data"), "half-written")
		kill(c)
		reg.take()
		if diff := cmp.Diff(gen("gen1"), a.contents(t)); diff != "" {
			t.Errorf("after the kill (-want +got):\n%s", diff)
		}
		if got := reg.take(); got != (counts{}) {
			t.Errorf("restore after the kill moved %+v, want nothing", got)
		}
	})
	t.Run("big tree changed", func(t *testing.T) {
		reg := newCountingRegistry(t)
		a := reg.machine(t)
		layers := twoLayers(t, "gen1")
		for _, n := range []string{"gocache", "mods"} {
			write(t, filepath.Join(layers, "acme_go", n, "big"), string(make([]byte, keepMaxBytes+1)))
		}
		c, _ := a.restore(t)
		if err := c.Save(context.Background(), SaveOptions{LayersDir: layers, Group: group}); err != nil {
			t.Fatal(err)
		}
		c.Close()
		c, layers = a.restore(t)
		write(t, filepath.Join(layers, "acme_go", "mods", "data"), "half-written")
		kill(c)
		reg.take()
		// The dropped tree alone comes from the image.
		if diff := cmp.Diff(gen("gen1"), a.contents(t)); diff != "" {
			t.Errorf("after the kill (-want +got):\n%s", diff)
		}
		if got := reg.take(); got.gets != 1 {
			t.Errorf("restore after the kill fetched %d layer blobs, want 1", got.gets)
		}
	})
	t.Run("after build finished", func(t *testing.T) {
		reg := newCountingRegistry(t)
		a := reg.machine(t)
		a.first(t, "gen1")
		c, layers := a.restore(t)
		rebuilt(t, layers, "gocache", "")
		rebuilt(t, layers, "mods", "mods gen2")
		write(t, filepath.Join(layers, buildDoneRel), "")
		kill(c)
		reg.take()
		if diff := cmp.Diff(gen("gen1"), a.contents(t)); diff != "" {
			t.Errorf("after the kill (-want +got):\n%s", diff)
		}
		if got := reg.take(); got != (counts{2, 0, 0}) {
			t.Errorf("restore after the kill moved %+v, want 2 layer fetches", got)
		}
	})
	t.Run("during push", func(t *testing.T) {
		reg := newCountingRegistry(t)
		a := reg.machine(t)
		a.first(t, "gen1")
		c, layers := a.restore(t)
		rebuilt(t, layers, "gocache", "")
		rebuilt(t, layers, "mods", "mods gen2")
		reg.failPush.Store(true) // the push never ends
		if err := c.Save(context.Background(), SaveOptions{LayersDir: layers, Group: group}); err == nil {
			t.Fatal("Save succeeded with a failing registry")
		}
		kill(c)
		reg.failPush.Store(false)
		if diff := cmp.Diff(gen("gen1"), a.contents(t)); diff != "" {
			t.Errorf("after the kill (-want +got):\n%s", diff)
		}
		if l := leftovers(t, a.dir); l != nil {
			t.Errorf("left: %v", l)
		}
	})
}

// --clear-cache clears the local copy and the image's: nothing is
// restored or fetched, and the next save starts both afresh.
func TestImageCacheClear(t *testing.T) {
	reg := newCountingRegistry(t)
	a := reg.machine(t)
	a.first(t, "gen1")
	reg.take()
	ctx := context.Background()
	c, err := Open(ctx, a.dir, WithImage(reg.iio, reg.ref))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Clear(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(a.dir, committedName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the local copy is still there: %v", err)
	}
	layers := t.TempDir()
	res, err := c.Restore(ctx, RestoreOptions{LayersDir: layers, Group: group, Warn: func(f string, a ...any) { t.Errorf(f, a...) }})
	if err != nil || len(res.Contents) != 0 {
		t.Errorf("Restore after Clear = %+v, %v", res, err)
	}
	if err := c.Save(ctx, SaveOptions{LayersDir: twoLayers(t, "gen2"), Group: group}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if got := reg.take(); got.gets != 0 {
		t.Errorf("a cleared cache fetched %d layer blobs", got.gets)
	}
	if diff := cmp.Diff(gen("gen2"), a.contents(t)); diff != "" {
		t.Errorf("after Clear and a save (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(gen("gen2"), reg.machine(t).contents(t)); diff != "" {
		t.Errorf("another machine after Clear and a save (-want +got):\n%s", diff)
	}
}

// A registry that will not hand the cache image over is no cache, even
// with a local copy that was that image's: the build goes on without it
// and says why.
func TestImageCacheUnreadableIgnoresLocalCopy(t *testing.T) {
	reg := newCountingRegistry(t)
	a := reg.machine(t)
	a.first(t, "gen1")
	reg.broken.Store(true)
	ctx := context.Background()
	c, err := Open(ctx, a.dir, WithImage(reg.iio, reg.ref))
	if err != nil {
		t.Fatal(err)
	}
	var warnings []string
	res, err := c.Restore(ctx, RestoreOptions{LayersDir: t.TempDir(), Group: group, Warn: func(f string, a ...any) { warnings = append(warnings, fmt.Sprintf(f, a...)) }})
	if err != nil || len(res.Contents) != 0 || len(warnings) != 1 || !strings.Contains(warnings[0], "501") {
		t.Errorf("Restore = %+v, %v; warnings %q", res, err, warnings)
	}
	c.Close()
	// The local copy is still there for when the registry is back.
	reg.broken.Store(false)
	reg.take()
	if diff := cmp.Diff(gen("gen1"), a.contents(t)); diff != "" {
		t.Errorf("with the registry back (-want +got):\n%s", diff)
	}
	if got := reg.take(); got.gets != 0 {
		t.Errorf("with the registry back, restore fetched %d layer blobs", got.gets)
	}
}

// tree reads every file under the layer dir of a layers dir: path -> contents.
func tree(t *testing.T, layers, name string) map[string]string {
	t.Helper()
	root := filepath.Join(layers, "acme_go", name)
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		out[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// restored is what the machine restores of layer name; the trees go back.
func (m machine) restored(t *testing.T, name string) map[string]string {
	t.Helper()
	c, layers := m.restore(t)
	defer c.Close()
	got := tree(t, layers, name)
	if err := c.GiveBack(); err != nil {
		t.Fatal(err)
	}
	return got
}

// change restores, lets f change the gocache layer, saves, and returns
// the blob bytes uploaded.
func (m machine) change(t *testing.T, f func(dir string)) int64 {
	t.Helper()
	c, layers := m.restore(t)
	rebuilt(t, layers, "gocache", "")
	rebuilt(t, layers, "mods", "")
	f(filepath.Join(layers, "acme_go", "gocache"))
	before := m.reg.upBytes.Load()
	if err := c.Save(context.Background(), SaveOptions{LayersDir: layers, Group: group}); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	return m.reg.upBytes.Load() - before
}

// A layer that gains or changes a few entries is pushed as a delta over
// the previous image's layers; a restore anywhere applies them in order
// and gets the tree as saved. A layer that lost an entry, or whose chain
// has grown long, is pushed whole again.
func TestImageCacheDeltas(t *testing.T) {
	reg := newCountingRegistry(t)
	a, b := reg.machine(t), reg.machine(t)
	layers := twoLayers(t, "gen1")
	big := make([]byte, 1<<20)
	rand.Read(big) // incompressible: the whole layer is over 1 MiB
	write(t, filepath.Join(layers, "acme_go", "gocache", "big"), string(big))
	c, _ := a.restore(t)
	if err := c.Save(context.Background(), SaveOptions{LayersDir: layers, Group: group}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	want := map[string]string{"data": "gocache gen1", "big": string(big)}
	key := "acme/go:gocache"

	// A new entry, and a changed one.
	n := a.change(t, func(dir string) {
		write(t, filepath.Join(dir, "new", "entry"), "new entry")
		write(t, filepath.Join(dir, "data"), "gocache gen2, longer")
	})
	want["new/entry"], want["data"] = "new entry", "gocache gen2, longer"
	if n > 64<<10 {
		t.Errorf("a small change uploaded %d bytes", n)
	}
	if d := reg.label(t).Deltas[key]; len(d) != 1 {
		t.Errorf("deltas of %s: %v, want 1", key, d)
	}
	if diff := cmp.Diff(want, b.restored(t, "gocache")); diff != "" {
		t.Errorf("another machine restored (-want +got):\n%s", diff)
	}
	// The other machine's delta goes over the chain it downloaded.
	n = b.change(t, func(dir string) {
		write(t, filepath.Join(dir, "new", "other"), "from b")
		os.Chmod(filepath.Join(dir, "new", "entry"), 0o600)
	})
	want["new/other"] = "from b"
	if n > 64<<10 {
		t.Errorf("a small change uploaded %d bytes", n)
	}
	if d := reg.label(t).Deltas[key]; len(d) != 2 {
		t.Errorf("deltas of %s: %v, want 2", key, d)
	}
	reg.take()
	if diff := cmp.Diff(want, a.restored(t, "gocache")); diff != "" {
		t.Errorf("the first machine restored (-want +got):\n%s", diff)
	}
	if got := reg.take(); got.gets != 4 { // mods, and gocache's layer and deltas
		t.Errorf("restoring a chain fetched %d layer blobs, want 4", got.gets)
	}
	c, layers = a.restore(t)
	if fi, err := os.Stat(filepath.Join(layers, "acme_go", "gocache", "new", "entry")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("a mode changed in a delta: %v, %v", fi.Mode(), err)
	}
	c.GiveBack()
	c.Close()

	// An entry removed: the layer is pushed whole.
	n = a.change(t, func(dir string) { os.Remove(filepath.Join(dir, "new", "other")) })
	delete(want, "new/other")
	if n < 1<<20 {
		t.Errorf("a layer that lost an entry uploaded %d bytes, want it whole", n)
	}
	if d := reg.label(t).Deltas[key]; len(d) != 0 {
		t.Errorf("deltas of %s after a removal: %v", key, d)
	}
	if diff := cmp.Diff(want, reg.machine(t).restored(t, "gocache")); diff != "" {
		t.Errorf("another machine restored (-want +got):\n%s", diff)
	}

	// The chain is bounded.
	for i := range maxDeltas + 1 {
		a.change(t, func(dir string) { write(t, filepath.Join(dir, "more", fmt.Sprint(i)), "more") })
		want[fmt.Sprintf("more/%d", i)] = "more"
		if d := reg.label(t).Deltas[key]; len(d) > maxDeltas || i == maxDeltas && len(d) != 0 {
			t.Errorf("change %d: %d deltas", i, len(d))
		}
	}
	if diff := cmp.Diff(want, reg.machine(t).restored(t, "gocache")); diff != "" {
		t.Errorf("another machine restored (-want +got):\n%s", diff)
	}
}

// What a hostile build leaves is not followed into the host: a layer dir
// replaced by a link is not cached (nor pushed), and a link inside a layer
// is pushed as a link, in a delta as in a whole layer.
func TestImageCacheRefusesLinks(t *testing.T) {
	reg := newCountingRegistry(t)
	a, b := reg.machine(t), reg.machine(t)
	a.first(t, "gen1")
	secret := t.TempDir()
	write(t, filepath.Join(secret, "key"), "host secret")
	c, layers := a.restore(t)
	rebuilt(t, layers, "gocache", "")
	rebuilt(t, layers, "mods", "")
	gocache := filepath.Join(layers, "acme_go", "gocache")
	if err := os.Symlink(filepath.Join(secret, "key"), filepath.Join(gocache, "link")); err != nil {
		t.Fatal(err)
	}
	mods := filepath.Join(layers, "acme_go", "mods")
	if err := os.RemoveAll(mods); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, mods); err != nil {
		t.Fatal(err)
	}
	if err := c.Save(context.Background(), SaveOptions{LayersDir: layers, Group: group}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := os.Stat(filepath.Join(secret, "key")); err != nil {
		t.Errorf("the host file was moved: %v", err)
	}
	c, layers = b.restore(t)
	defer c.Close()
	if _, err := os.Lstat(filepath.Join(layers, "acme_go", "mods")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a layer dir that was a link was restored: %v", err)
	}
	link := filepath.Join(layers, "acme_go", "gocache", "link")
	if target, err := os.Readlink(link); err != nil || target != filepath.Join(secret, "key") {
		t.Errorf("the link inside the layer restored as %q, %v", target, err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link inside the layer is not a link: %v", err)
	}
}
