package buildpackage

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/internal/testutil"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// writeExtension writes an image extension with a bin/generate under
// dir/name and returns its directory.
func writeExtension(t *testing.T, dir, name, id, version string) string {
	t.Helper()
	ext := filepath.Join(dir, name)
	testutil.WriteFiles(t, ext, map[string]string{
		"extension.toml": "api = \"0.10\"\n[extension]\nid = \"" + id + "\"\nversion = \"" + version + "\"\n",
	})
	testutil.WriteFile(t, filepath.Join(ext, "bin", "generate"), "#!/bin/sh\necho 'FROM example.com/run' > \"$1/run.Dockerfile\"\n", 0o755)
	return ext
}

func TestResolveExtension(t *testing.T) {
	dir := t.TempDir()
	ext := writeExtension(t, dir, "curl", "samples/curl", "0.0.1")
	bp := writeComponent(t, dir, "bp", "acme/go", "1.0.0", "")
	r := &Resolver{Layers: layerOpts(t), Kind: descriptor.KindExtension}

	src, err := r.Resolve(bg, "curl", dir)
	if err != nil {
		t.Fatal(err)
	}
	e := src.Entry
	if !e.Descriptor.IsExtension() || e.Ref() != "samples/curl@0.0.1" {
		t.Fatalf("resolved %s (extension %v)", e.Ref(), e.Descriptor.IsExtension())
	}
	want := map[string]bool{"cnb": true, "cnb/extensions": true, "cnb/extensions/samples_curl": true, "cnb/extensions/samples_curl/0.0.1": true,
		"cnb/extensions/samples_curl/0.0.1/bin": true, "cnb/extensions/samples_curl/0.0.1/bin/generate": true, "cnb/extensions/samples_curl/0.0.1/extension.toml": true}
	if diff := cmp.Diff(want, layerNames(t, e.Layer)); diff != "" {
		t.Errorf("layer entries (-want +got):\n%s", diff)
	}

	// a buildpack is not an extension, and the other way round
	_, err = r.Resolve(bg, bp, dir)
	wantErr(t, err, `extension uri`, "is not an extension: it has no extension.toml")
	_, err = (&Resolver{Layers: layerOpts(t)}).Resolve(bg, ext, dir)
	wantErr(t, err, "is not a buildpack: it has no buildpack.toml")

	// packaged as pack packages an extension, read back with its layer
	img, err := Create(bg, e, []Buildpack{e}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.Config.Labels[labels.ExtensionLayers]; !ok {
		t.Fatalf("the package lacks %s: %v", labels.ExtensionLayers, cfg.Config.Labels)
	}
	cnb := filepath.Join(dir, "curl.cnb")
	if err := WriteFile(bg, cnb, img); err != nil {
		t.Fatal(err)
	}
	back, err := r.Resolve(bg, cnb, dir)
	if err != nil {
		t.Fatal(err)
	}
	got := back.Entry
	if !got.Descriptor.IsExtension() || got.Ref() != e.Ref() || !sameLayerT(t, got, e) {
		t.Errorf("read back %s (extension %v)", got.Ref(), got.Descriptor.IsExtension())
	}
	if diff := cmp.Diff([]descriptor.Target{{OS: "linux"}}, got.Descriptor.Targets); diff != "" {
		t.Errorf("targets inferred from the layer (-want +got):\n%s", diff)
	}
	// as a buildpackage it has no buildpacks
	_, err = (&Resolver{Layers: layerOpts(t)}).Resolve(bg, cnb, dir)
	wantErr(t, err, "has no buildpacks: no io.buildpacks.buildpack.layers label")
}

func sameLayerT(t *testing.T, a, b Buildpack) bool {
	t.Helper()
	da, err := a.Layer.DiffID()
	if err != nil {
		t.Fatal(err)
	}
	db, err := b.Layer.DiffID()
	if err != nil {
		t.Fatal(err)
	}
	return da == db
}

func TestResolveExtensionArchive(t *testing.T) {
	dir := t.TempDir()
	ext := writeExtension(t, dir, "curl", "samples/curl", "0.0.1")
	// a .tgz of the directory, extension.toml at its root
	tarball := filepath.Join(dir, "curl.tgz")
	tgz(t, ext, tarball)
	src, err := (&Resolver{Layers: layerOpts(t), Kind: descriptor.KindExtension}).Resolve(bg, tarball, dir)
	if err != nil {
		t.Fatal(err)
	}
	if src.Entry.Ref() != "samples/curl@0.0.1" || !src.Entry.Descriptor.IsExtension() {
		t.Errorf("resolved %s", src.Entry.Ref())
	}
}
