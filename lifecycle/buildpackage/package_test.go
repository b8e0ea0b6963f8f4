package buildpackage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/internal/testutil"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// A component buildpack packaged to a .cnb file reads back as the same
// image, with the same buildpack, labels and layer.
func TestCNBRoundTrip(t *testing.T) {
	dir := t.TempDir()
	bpDir := writeComponent(t, dir, "go", "acme/go", "1.2.3", "[[stacks]]\nid = \"io.buildpacks.stacks.jammy\"\nmixins = [\"git\"]\n")
	b, err := FromDir(bg, bpDir, layerOpts(t))
	if err != nil {
		t.Fatal(err)
	}
	img, err := Create(bg, b, []Buildpack{b}, Options{Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	cnb := filepath.Join(dir, "out", "go.cnb")
	if err := WriteFile(bg, cnb, img); err != nil {
		t.Fatal(err)
	}
	back, err := OpenFile(cnb)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := digestOf(t, back), digestOf(t, img); got != want {
		t.Errorf("digest read back %s, want %s", got, want)
	}
	pkg, err := Read(bg, back, cnb)
	if err != nil {
		t.Fatal(err)
	}
	wantMD := labels.Buildpackage{
		ID: "acme/go", Version: "1.2.3", Homepage: "https://example.com/go",
		Stacks:  []labels.StackEntry{{ID: "io.buildpacks.stacks.jammy", Mixins: []string{"git"}}},
		Targets: []labels.Target{{OS: "linux"}}, // inferred from bin/build
	}
	if d := cmp.Diff(wantMD, pkg.Metadata, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("metadata (-want +got):\n%s", d)
	}
	if len(pkg.Buildpacks) != 1 || pkg.Entry.Ref() != "acme/go@1.2.3" {
		t.Fatalf("buildpacks %v, entry %s", pkg.Buildpacks, pkg.Entry.Ref())
	}
	// The descriptor decoded from the layer equals the one from the directory.
	want := *b.Descriptor
	want.Dir = ""
	if d := cmp.Diff(&want, pkg.Entry.Descriptor, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("descriptor (-dir +layer):\n%s", d)
	}
	wantDiff, _ := b.Layer.DiffID()
	gotDiff, _ := pkg.Entry.Layer.DiffID()
	if gotDiff != wantDiff {
		t.Errorf("layer diffID %s, want %s", gotDiff, wantDiff)
	}
	// The layer holds the buildpack at /cnb/buildpacks/acme_go/1.2.3/.
	names := layerNames(t, pkg.Entry.Layer)
	for _, n := range []string{"cnb/buildpacks/acme_go/1.2.3/buildpack.toml", "cnb/buildpacks/acme_go/1.2.3/bin/build"} {
		if !names[n] {
			t.Errorf("layer lacks %s (has %v)", n, names)
		}
	}
	cf, _ := back.ConfigFile()
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}
	if mt, _ := back.MediaType(); mt != types.OCIManifestSchema1 {
		t.Errorf("media type %s", mt)
	}
	// ggcr's own layout reader agrees, once the tar is unpacked.
	lay := filepath.Join(dir, "layout")
	untar(t, cnb, lay)
	ii, err := layout.ImageIndexFromPath(lay)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := ii.IndexManifest()
	if len(im.Manifests) != 1 || im.Manifests[0].Digest != digestOf(t, img) {
		t.Errorf("index.json manifests %+v", im.Manifests)
	}
}

// The same buildpack directory gives the same image digest and the same
// .cnb bytes, whatever the files' times and the temp dirs used.
func TestReproducible(t *testing.T) {
	dir := t.TempDir()
	bpDir := writeComponent(t, dir, "go", "acme/go", "1.0.0", "")
	build := func() (v1.Hash, []byte) {
		b, err := FromDir(bg, bpDir, layerOpts(t))
		if err != nil {
			t.Fatal(err)
		}
		img, err := Create(bg, b, []Buildpack{b}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "x.cnb")
		if err := WriteFile(bg, p, img); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return digestOf(t, img), data
	}
	d1, f1 := build()
	later := time.Now().Add(48 * time.Hour)
	if err := os.Chtimes(filepath.Join(bpDir, "bin", "build"), later, later); err != nil {
		t.Fatal(err)
	}
	d2, f2 := build()
	if d1 != d2 {
		t.Errorf("digests differ: %s and %s", d1, d2)
	}
	if !bytes.Equal(f1, f2) {
		t.Error(".cnb files differ")
	}
	testutil.WriteFile(t, filepath.Join(bpDir, "bin", "extra"), "x", 0o644)
	if d3, _ := build(); d3 == d1 {
		t.Error("a changed buildpack kept the same digest")
	}
}

// A meta-buildpack's package.toml names its members; they all land in the
// package, one layer each, and a member that is missing is named.
func TestFromConfigComposite(t *testing.T) {
	dir := t.TempDir()
	writeComponent(t, dir, "go", "acme/go", "1.0.0", "")
	nodeDir := writeComponent(t, dir, "node", "acme/node", "2.0.0", "")
	meta := writeComposite(t, dir, "meta", "acme/meta", "0.1.0", "acme/go@1.0.0", "acme/node@2.0.0?")

	// acme/node comes in as a .cnb of its own.
	nb, err := FromDir(bg, nodeDir, layerOpts(t))
	if err != nil {
		t.Fatal(err)
	}
	nimg, err := Create(bg, nb, []Buildpack{nb}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(bg, filepath.Join(dir, "node.cnb"), nimg); err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, filepath.Join(meta, "package.toml"), "[buildpack]\nuri = \".\"\n[[dependencies]]\nuri = \"../go\"\n[[dependencies]]\nuri = \"file://../node.cnb\"\n", 0o644)
	cfg, err := ReadConfig(filepath.Join(meta, "package.toml"))
	if err != nil {
		t.Fatal(err)
	}
	r := &Resolver{Layers: layerOpts(t)}
	img, err := FromConfig(bg, cfg, r, Options{})
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := Read(bg, img, "meta package")
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, b := range pkg.Buildpacks {
		refs = append(refs, b.Ref())
	}
	if d := cmp.Diff([]string{"acme/go@1.0.0", "acme/meta@0.1.0", "acme/node@2.0.0"}, refs); d != "" {
		t.Errorf("buildpacks (-want +got):\n%s", d)
	}
	if pkg.Entry.Ref() != "acme/meta@0.1.0" || !pkg.Entry.Descriptor.IsComposite() {
		t.Errorf("entry %s", pkg.Entry.Ref())
	}
	layers, _ := img.Layers()
	if len(layers) != 3 {
		t.Errorf("%d layers, want 3", len(layers))
	}
	// The node layer is the one from node.cnb, not a new one.
	nodeDiff, _ := nb.Layer.DiffID()
	if !contains(diffIDs(t, img), nodeDiff.String()) {
		t.Errorf("node layer %s not reused: %v", nodeDiff, diffIDs(t, img))
	}
	cf, _ := img.ConfigFile()
	var ll labels.BuildpackLayersLabel
	if _, err := labels.Decode(cf, labels.BuildpackLayers, &ll); err != nil {
		t.Fatal(err)
	}
	wantOrder := labels.Order{{Group: []labels.BuildpackRef{{ID: "acme/go", Version: "1.0.0"}, {ID: "acme/node", Version: "2.0.0", Optional: true}}}}
	if d := cmp.Diff(wantOrder, ll["acme/meta"]["0.1.0"].Order); d != "" {
		t.Errorf("meta order in layers label (-want +got):\n%s", d)
	}

	// Without the node dependency the package is refused, naming the file
	// and the missing member.
	testutil.WriteFile(t, filepath.Join(meta, "package.toml"), "[[dependencies]]\nuri = \"../go\"\n", 0o644)
	cfg, err = ReadConfig(filepath.Join(meta, "package.toml"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = FromConfig(bg, cfg, r, Options{})
	wantErr(t, err, filepath.Join(meta, "package.toml"), "acme/meta@0.1.0", "[[order.group]] #2", "acme/node@2.0.0 is not in the buildpackage")
	if !IsInputError(err) {
		t.Errorf("error %v is not an InputError", err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Every kind of URI resolves, and every bad one gets an error naming it.
func TestResolve(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	goDir := writeComponent(t, dir, "go", "acme/go", "1.0.0", "")
	b, err := FromDir(ctx, goDir, layerOpts(t))
	if err != nil {
		t.Fatal(err)
	}
	img, err := Create(ctx, b, []Buildpack{b}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(ctx, filepath.Join(dir, "go.cnb"), img); err != nil {
		t.Fatal(err)
	}
	// a buildpack tarball, gzipped
	tgz(t, goDir, filepath.Join(dir, "go.tgz"))
	// a docker-archive .cnb, as old tools wrote
	tag, _ := name.NewTag("acme/go:1")
	var da bytes.Buffer
	if err := tarball.Write(tag, img, &da); err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, filepath.Join(dir, "old.cnb"), da.String(), 0o644)
	testutil.WriteFile(t, filepath.Join(dir, "empty", "README"), "no buildpack here", 0o644)
	testutil.WriteFile(t, filepath.Join(dir, "notes.txt"), strings.Repeat("plain text, not a tar\n", 40), 0o644)

	host := testutil.NewRegistry(t).Host
	ref, _ := name.ParseReference(host + "/acme/go:1")
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	notPkg := testutil.RandomImage(t, 100, 1)
	ref2, _ := name.ParseReference(host + "/acme/random:1")
	if err := remote.Write(ref2, notPkg); err != nil {
		t.Fatal(err)
	}
	images := ImageSourceFunc(func(ctx context.Context, s string) (v1.Image, error) {
		r, err := name.ParseReference(s)
		if err != nil {
			return nil, err
		}
		return remote.Image(r, remote.WithContext(ctx))
	})
	r := &Resolver{Images: images, Layers: layerOpts(t)}
	wantDiff, _ := b.Layer.DiffID()

	for _, tc := range []struct {
		uri      string
		sameDiff bool // the layer is the packaged one
		wantErr  []string
	}{
		{uri: "go", sameDiff: true},
		{uri: "./go", sameDiff: true},
		{uri: goDir, sameDiff: true},
		{uri: "file://go", sameDiff: true},
		{uri: "go.cnb", sameDiff: true},
		{uri: "old.cnb", sameDiff: true},
		{uri: "go.tgz", sameDiff: true},
		{uri: "docker://" + host + "/acme/go:1", sameDiff: true},
		{uri: host + "/acme/go:1", sameDiff: true},
		{uri: "missing", wantErr: []string{`buildpack uri "missing"`, filepath.Join(dir, "missing") + " does not exist"}},
		{uri: "./bps/missing", wantErr: []string{"does not exist"}},
		{uri: "missing.cnb", wantErr: []string{"does not exist"}},
		{uri: "go/missing", wantErr: []string{"does not exist"}},
		{uri: "empty", wantErr: []string{`buildpack uri "empty"`, "is not a buildpack: it has no buildpack.toml"}},
		{uri: "notes.txt", wantErr: []string{`buildpack uri "notes.txt"`, "neither a buildpack directory"}},
		{uri: "docker://" + host + "/acme/random:1", wantErr: []string{"is not a buildpackage", labels.BuildpackageMeta}},
		{uri: "docker://" + host + "/acme/none:1", wantErr: []string{`buildpack uri "docker://` + host + `/acme/none:1"`}},
		{uri: "urn:cnb:registry:acme/go@1.0.0", wantErr: []string{"registry is not supported"}},
		{uri: "https://example.com/go.tgz", wantErr: []string{"downloading buildpacks is not supported"}},
		{uri: "", wantErr: []string{"empty buildpack uri"}},
	} {
		t.Run(tc.uri, func(t *testing.T) {
			src, err := r.Resolve(ctx, tc.uri, dir)
			if tc.wantErr != nil {
				wantErr(t, err, tc.wantErr...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if src.Entry.Ref() != "acme/go@1.0.0" || len(src.Buildpacks) != 1 {
				t.Fatalf("entry %s, %d buildpacks", src.Entry.Ref(), len(src.Buildpacks))
			}
			got, err := src.Entry.Layer.DiffID()
			if err != nil {
				t.Fatal(err)
			}
			if tc.sameDiff && got != wantDiff {
				t.Errorf("layer diffID %s, want %s", got, wantDiff)
			}
		})
	}
}

// A .cnb whose blob does not match its digest is refused when read.
func TestOpenFileCorrupt(t *testing.T) {
	dir := t.TempDir()
	b, err := FromDir(bg, writeComponent(t, dir, "go", "acme/go", "1.0.0", ""), layerOpts(t))
	if err != nil {
		t.Fatal(err)
	}
	img, err := Create(bg, b, []Buildpack{b}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "go.cnb")
	if err := WriteFile(bg, p, img); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(p)
	// flip one byte inside the layer blob: the layer digest's entry
	ld, _ := b.Layer.Digest()
	i := bytes.Index(data, []byte("blobs/sha256/"+ld.Hex))
	if i < 0 {
		t.Fatal("layer blob not found")
	}
	off := (i/512+1)*512 + 20
	data[off] ^= 0xff
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := OpenFile(p)
	if err != nil {
		t.Fatal(err)
	}
	// Reading the package fails (the gzip stream is broken), and reading
	// the raw blob fails on its digest.
	if _, err = Read(bg, back, p); err == nil {
		t.Error("a corrupt package was read")
	}
	l, err := back.LayerByDigest(ld)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(rc)
	rc.Close()
	wantErr(t, err, "blobs/sha256/"+ld.Hex, "does not match digest")

	if _, err := OpenFile(filepath.Join(dir, "none.cnb")); err == nil {
		t.Error("missing file opened")
	}
	testutil.WriteFile(t, filepath.Join(dir, "text.cnb"), strings.Repeat("x", 2000), 0o644)
	_, err = OpenFile(filepath.Join(dir, "text.cnb"))
	wantErr(t, err, "text.cnb", "not a tar file")
}

func FuzzOpenFile(f *testing.F) {
	dir := f.TempDir()
	b, err := FromDir(bg, writeComponentF(f, dir), LayerOptions{TempDir: dir})
	if err != nil {
		f.Fatal(err)
	}
	img, err := Create(bg, b, []Buildpack{b}, Options{})
	if err != nil {
		f.Fatal(err)
	}
	p := filepath.Join(dir, "seed.cnb")
	if err := WriteFile(bg, p, img); err != nil {
		f.Fatal(err)
	}
	seed, _ := os.ReadFile(p)
	f.Add(seed)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		// OpenFile reads the file through the same code, in memory here.
		open := func() (io.ReaderAt, io.Closer, error) { return bytes.NewReader(data), io.NopCloser(nil), nil }
		c, err := indexTar("fuzz.cnb", bytes.NewReader(data), int64(len(data)), open)
		if err != nil {
			return
		}
		img, err := c.open()
		if err != nil {
			return
		}
		// Reading whatever it claims must not panic; errors are fine.
		if _, err := Read(bg, img, "fuzz.cnb"); err != nil {
			return
		}
		if _, err := img.Digest(); err != nil {
			t.Fatalf("a readable package has no digest: %v", err)
		}
	})
}

func writeComponentF(f *testing.F, dir string) string {
	bp := filepath.Join(dir, "bp")
	for rel, c := range map[string]string{
		"buildpack.toml": "api = \"0.10\"\n[buildpack]\nid = \"f/bp\"\nversion = \"1\"\n",
		"bin/detect":     "#!/bin/sh\n",
		"bin/build":      "#!/bin/sh\n",
	} {
		os.MkdirAll(filepath.Dir(filepath.Join(bp, rel)), 0o755)
		if err := os.WriteFile(filepath.Join(bp, rel), []byte(c), 0o755); err != nil {
			f.Fatal(err)
		}
	}
	return bp
}

func layerNames(t *testing.T, l v1.Layer) map[string]bool {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := map[string]bool{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[cleanTarName(h.Name)] = true
	}
}

func untar(t *testing.T, file, dest string) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dest, h.Name)
		if h.Typeflag == tar.TypeDir {
			os.MkdirAll(p, 0o755)
			continue
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		data, _ := io.ReadAll(tr)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func tgz(t *testing.T, dir, out string) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h, _ := tar.FileInfoHeader(fi, "")
		h.Name = rel
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			data, _ := os.ReadFile(p)
			tw.Write(data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tw.Close()
	zw.Close()
	testutil.WriteFile(t, out, buf.String(), 0o644)
}
