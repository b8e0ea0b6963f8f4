package stack

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/stacks/debian"
	"github.com/kiln-build/kiln/stacks/sbom"
)

// TestPresentPackages checks which packages count as still in an image
// after a recipe removed files.
func TestPresentPackages(t *testing.T) {
	ctx := context.Background()
	root := archive.Owner{}
	list := func(pkg string, paths ...string) archive.Entry {
		var b bytes.Buffer
		b.WriteString("/.\n")
		for _, p := range paths {
			b.WriteString(p + "\n")
		}
		return archive.File(dpkgInfo+pkg+".list", 0o644, root, b.Bytes())
	}
	tr := archive.NewTar()
	for _, e := range []archive.Entry{
		archive.Dir("bin", 0o755, root),
		archive.Dir("usr/bin", 0o755, root),
		archive.Dir("usr/sbin", 0o755, root),
		archive.Symlink("sbin", "usr/sbin", root),
		archive.File("usr/bin/tool", 0o755, root, []byte("tool")),
		archive.File("usr/sbin/merged", 0o755, root, []byte("merged")),
		archive.File("usr/lib/libkept.so.1", 0o644, root, []byte("lib")),
		archive.File("usr/share/doc/gone/copyright", 0o644, root, []byte("c")),
		archive.File("usr/share/doc/meta/copyright", 0o644, root, []byte("c")),
		// tool: its program is there
		list("tool", "/usr", "/usr/bin", "/usr/bin/tool", "/usr/share/man/man1/tool.1.gz"),
		// gone: its program was removed, only the copyright is left
		list("gone", "/bin", "/bin/gone", "/usr/share/doc/gone", "/usr/share/doc/gone/copyright"),
		// gonedir: a removed directory and its files
		list("gonedir", "/usr/share/gonedir", "/usr/share/gonedir/data"),
		// meta: documentation only, never had a program
		list("meta", "/usr/share/doc/meta", "/usr/share/doc/meta/copyright"),
		// merged: listed under /sbin, which links to /usr/sbin
		list("merged", "/sbin/merged"),
		// multi: an arch-qualified list; its program is gone, its library not
		list("multi:amd64", "/usr/bin/multi", "/usr/lib/libkept.so.1"),
		// lost:amd64: every file removed
		list("lost:amd64", "/usr/bin/lost"),
	} {
		if err := tr.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := tr.Write(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	pkg := func(name, arch string) debian.Package {
		return debian.Package{Name: name, Version: "1.0", Architecture: arch}
	}
	installed := []debian.Package{
		pkg("gone", "amd64"), pkg("gonedir", "all"), pkg("lost", "amd64"), pkg("merged", "amd64"),
		pkg("meta", "all"), pkg("multi", "amd64"), pkg("nolist", "amd64"), pkg("tool", "amd64"),
	}
	got, err := presentPackages(ctx, img, installed)
	if err != nil {
		t.Fatal(err)
	}
	want := []debian.Package{pkg("merged", "amd64"), pkg("meta", "all"), pkg("multi", "amd64"), pkg("nolist", "amd64"), pkg("tool", "amd64")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("present packages (-want +got):\n%s", diff)
	}

	// WithSBOM lists only those, in the SBOM and in the package label.
	refs := make([]string, len(installed))
	for i, p := range installed {
		refs[i] = `"` + p.String() + `"`
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.Config.Labels = map[string]string{debian.LabelPackages: "[" + strings.Join(refs, ",") + "]"}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	out, err := WithSBOM(ctx, img, "io.example", "run")
	if err != nil {
		t.Fatal(err)
	}
	fromLabel, err := debian.Packages(out)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, fromLabel); diff != "" {
		t.Errorf("package label (-want +got):\n%s", diff)
	}
	layers, err := out.Layers()
	if err != nil {
		t.Fatal(err)
	}
	fromSBOM, err := sbom.Decode(fileInLayer(t, layers[len(layers)-1], sbom.Path))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, fromSBOM); diff != "" {
		t.Errorf("SBOM packages (-want +got):\n%s", diff)
	}
}
