package cache

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/kiln-build/kiln/internal/testutil"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// pushCacheImage pushes a cache image made by someone else: one layer per
// tar, and the index md (whose gocache layer's SHA, unless set, is the
// first layer's diffID) in its label.
func (r *countingRegistry) pushCacheImage(t *testing.T, md Metadata, tars ...[]byte) {
	t.Helper()
	img := empty.Image
	var diffIDs []string
	for _, b := range tars {
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
		if err != nil {
			t.Fatal(err)
		}
		d, err := l.DiffID()
		if err != nil {
			t.Fatal(err)
		}
		diffIDs = append(diffIDs, d.String())
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	for i := range md.Buildpacks {
		for n, lm := range md.Buildpacks[i].Layers {
			if lm.SHA == "" {
				lm.SHA = diffIDs[0]
			}
			md.Buildpacks[i].Layers[n] = lm
		}
	}
	label, err := labels.Encode(md)
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.Config(img, v1.Config{Labels: map[string]string{ImageMetadataLabel: label}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.iio.Write(context.Background(), imageio.Location{Kind: imageio.Registry, Name: r.ref}, img); err != nil {
		t.Fatal(err)
	}
}

// restoreFresh restores the cache image on a machine with no local copy,
// and returns what it restored, the layers dir and the warnings.
func (r *countingRegistry) restoreFresh(t *testing.T) (Restored, string, []string) {
	t.Helper()
	ctx := context.Background()
	c, err := Open(ctx, t.TempDir(), WithImage(r.iio, r.ref))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	layers := filepath.Join(t.TempDir(), "layers")
	os.MkdirAll(layers, 0o755)
	var warnings []string
	res, err := c.Restore(ctx, RestoreOptions{LayersDir: layers, Group: group, Warn: func(f string, a ...any) {
		warnings = append(warnings, fmt.Sprintf(f, a...))
	}})
	if err != nil {
		t.Fatal(err)
	}
	return res, layers, warnings
}

// gocacheIndex is an index naming one cached layer, acme/go:gocache.
func gocacheIndex() Metadata {
	return Metadata{Buildpacks: []labels.BuildpackEntry{{Key: "acme/go", Version: "1",
		Layers: map[string]labels.LayerMetadata{"gocache": {Cache: true, Build: true}}}}}
}

// A cache image is input from a registry: a link in its tar where the
// layer dir's parents (or the layer dir itself) should be does not lead
// the restore to move a host directory into the build, and the layer is
// not restored.
func TestImageCacheRestoreRefusesLinksInTar(t *testing.T) {
	dir := func(n string) testutil.TarEntry { return testutil.TarEntry{Name: n, Type: tar.TypeDir, Mode: 0o755} }
	link := func(n, target string) testutil.TarEntry {
		return testutil.TarEntry{Name: n, Type: tar.TypeSymlink, Link: target}
	}
	for _, tc := range []struct {
		name    string
		entries func(host string) []testutil.TarEntry
	}{
		{"buildpack dir is a link", func(host string) []testutil.TarEntry {
			return []testutil.TarEntry{dir("layers/"), link("layers/acme_go", host)}
		}},
		{"layers dir is a link", func(host string) []testutil.TarEntry {
			return []testutil.TarEntry{link("layers", filepath.Dir(host))}
		}},
		{"relative link up and out", func(host string) []testutil.TarEntry {
			return []testutil.TarEntry{dir("layers/"), link("layers/acme_go", strings.Repeat("../", 40)+strings.TrimPrefix(host, "/"))}
		}},
		{"layer dir is a link", func(host string) []testutil.TarEntry {
			return []testutil.TarEntry{dir("layers/"), dir("layers/acme_go/"), link("layers/acme_go/gocache", filepath.Join(host, "gocache"))}
		}},
		{"layer dir is a file", func(string) []testutil.TarEntry {
			return []testutil.TarEntry{dir("layers/"), dir("layers/acme_go/"), {Name: "layers/acme_go/gocache", Body: "x"}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := newCountingRegistry(t)
			host := filepath.Join(t.TempDir(), "acme_go")
			write(t, filepath.Join(host, "gocache", "secret"), "host secret")
			reg.pushCacheImage(t, gocacheIndex(), testutil.Tar(t, tc.entries(host)...))
			res, layers, warnings := reg.restoreFresh(t)
			if len(res.Contents) != 0 || len(warnings) != 1 {
				t.Errorf("restored %v, warnings %q; want nothing and one warning", res.Contents, warnings)
			}
			if b, err := os.ReadFile(filepath.Join(host, "gocache", "secret")); err != nil || string(b) != "host secret" {
				t.Errorf("the host dir was moved: %q, %v", b, err)
			}
			if _, err := os.Lstat(filepath.Join(layers, "acme_go", "gocache")); err == nil {
				t.Error("something stands at the layer dir")
			}
		})
	}
}

// The index in a cache image's label is input from a registry: a layer
// whose chain of deltas is longer than a save ever makes is skipped, not
// fetched and extracted once per entry.
func TestImageCacheRestoreRefusesLongChains(t *testing.T) {
	for _, n := range []int{maxDeltas + 1, 10000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			reg := newCountingRegistry(t)
			base := testutil.Tar(t,
				testutil.TarEntry{Name: "layers/acme_go/gocache/", Type: tar.TypeDir, Mode: 0o755},
				testutil.TarEntry{Name: "layers/acme_go/gocache/data", Body: "base"})
			delta := testutil.Tar(t, testutil.TarEntry{Name: "layers/acme_go/gocache/more", Body: "more"})
			md := gocacheIndex()
			reg.pushCacheImage(t, md, base, delta)
			// The delta's diffID, named n times.
			d := reg.label(t)
			img, err := reg.iio.Remote(context.Background(), reg.ref)
			if err != nil {
				t.Fatal(err)
			}
			ids, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			chain := make([]string, n)
			for i := range chain {
				chain[i] = ids.RootFS.DiffIDs[1].String()
			}
			d.Deltas = map[string][]string{"acme/go:gocache": chain}
			reg.pushCacheImage(t, d, base, delta)
			reg.take()
			res, _, warnings := reg.restoreFresh(t)
			if len(res.Contents) != 0 || len(warnings) != 1 || !strings.Contains(warnings[0], "more than kiln makes") {
				t.Errorf("restored %v, warnings %q; want nothing and one warning", res.Contents, warnings)
			}
			if got := reg.take().gets; got != 0 {
				t.Errorf("%d layer blobs fetched", got)
			}
		})
	}
	// maxDeltas deltas, as a save may leave, are applied.
	reg := newCountingRegistry(t)
	tars := [][]byte{testutil.Tar(t,
		testutil.TarEntry{Name: "layers/acme_go/gocache/", Type: tar.TypeDir, Mode: 0o755},
		testutil.TarEntry{Name: "layers/acme_go/gocache/data", Body: "base"})}
	for i := range maxDeltas {
		tars = append(tars, testutil.Tar(t, testutil.TarEntry{Name: fmt.Sprintf("layers/acme_go/gocache/d%d", i), Body: "delta"}))
	}
	reg.pushCacheImage(t, gocacheIndex(), tars...)
	img, err := reg.iio.Remote(context.Background(), reg.ref)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	md := gocacheIndex()
	md.Deltas = map[string][]string{}
	for _, d := range cfg.RootFS.DiffIDs[1:] {
		md.Deltas["acme/go:gocache"] = append(md.Deltas["acme/go:gocache"], d.String())
	}
	reg.pushCacheImage(t, md, tars...)
	c, layers := reg.machine(t).restore(t)
	defer c.Close()
	if got := tree(t, layers, "gocache"); len(got) != 1+maxDeltas {
		t.Errorf("restored %v", got)
	}
}

// A cache image's layer is input from a registry: one that unpacks past
// the bound (a compression bomb) is skipped with a warning, not written
// until the disk is full.
func TestImageCacheRestoreBoundsALayer(t *testing.T) {
	defer func(b int64, e int) { maxRestoreBytes, maxRestoreEntries = b, e }(maxRestoreBytes, maxRestoreEntries)
	maxRestoreBytes, maxRestoreEntries = 2048, 100
	dir := func(n string) testutil.TarEntry { return testutil.TarEntry{Name: n, Type: tar.TypeDir, Mode: 0o755} }
	kib := strings.Repeat("x", 1024)
	for _, tc := range []struct {
		name    string
		entries []testutil.TarEntry
	}{
		{"bytes", []testutil.TarEntry{dir("layers/"), dir("layers/acme_go/"), dir("layers/acme_go/gocache/"),
			{Name: "layers/acme_go/gocache/a", Body: kib}, {Name: "layers/acme_go/gocache/b", Body: kib},
			{Name: "layers/acme_go/gocache/c", Body: kib}}},
		{"entries", func() []testutil.TarEntry {
			es := []testutil.TarEntry{dir("layers/"), dir("layers/acme_go/"), dir("layers/acme_go/gocache/")}
			for i := range 200 {
				es = append(es, testutil.TarEntry{Name: fmt.Sprintf("layers/acme_go/gocache/f%d", i)})
			}
			return es
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := newCountingRegistry(t)
			reg.pushCacheImage(t, gocacheIndex(), testutil.Tar(t, tc.entries...))
			res, layers, warnings := reg.restoreFresh(t)
			if len(res.Contents) != 0 || len(warnings) != 1 || !strings.Contains(warnings[0], "too large") {
				t.Errorf("restored %v, warnings %q; want nothing and one warning saying too large", res.Contents, warnings)
			}
			if _, err := os.Lstat(filepath.Join(layers, "acme_go", "gocache")); err == nil {
				t.Error("something stands at the layer dir")
			}
		})
	}
}
