package builder

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/lifecycle/buildpackage"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// writeExtension writes an image extension under dir/name.
func writeExtension(t *testing.T, dir, name, id, version string) string {
	t.Helper()
	ext := filepath.Join(dir, name)
	writeFile(t, filepath.Join(ext, "extension.toml"), 0o644, "api = \"0.10\"\n[extension]\nid = \""+id+"\"\nversion = \""+version+"\"\nhomepage = \"https://example.com/"+name+"\"\n")
	writeFile(t, filepath.Join(ext, "bin", "generate"), 0o755, "#!/bin/sh\necho 'FROM example.com/run' > \"$1/run.Dockerfile\"\n")
	return ext
}

const extBuilderTOML = `[[buildpacks]]
uri = "bps/go"

[[order]]
[[order.group]]
id = "acme/go"

[[extensions]]
uri = "exts/curl"

[[extensions]]
uri = "tree.cnb"

[[order-extensions]]
[[order-extensions.group]]
id = "samples/curl"
[[order-extensions.group]]
id = "samples/tree"
version = "0.0.2"

[build]
image = "build:1"

[[run.images]]
image = "run:1"
`

// A builder.toml's extensions go into the builder as pack puts them:
// /cnb/extensions, order.toml's [[order-extensions]] and the labels.
func TestCreateFromConfigExtensions(t *testing.T) {
	dir := t.TempDir()
	writeComponent(t, filepath.Join(dir, "bps"), "go", "acme/go", "1.0.0")
	writeExtension(t, filepath.Join(dir, "exts"), "curl", "samples/curl", "0.0.1")
	// tree comes packaged, as `pack extension package` makes it
	tree, err := buildpackage.FromModuleDir(bg, descriptor.KindExtension, writeExtension(t, filepath.Join(dir, "exts"), "tree", "samples/tree", "0.0.2"), buildpackage.LayerOptions{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := buildpackage.Create(bg, tree, []buildpackage.Buildpack{tree}, buildpackage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := buildpackage.WriteFile(bg, filepath.Join(dir, "tree.cnb"), pkg); err != nil {
		t.Fatal(err)
	}
	img, err := createFromText(t, dir, extBuilderTOML, map[string]v1.Image{"build:1": buildImage(t)})
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	var md labels.Builder
	if _, err := labels.Decode(cf, labels.BuilderMetadata, &md); err != nil {
		t.Fatal(err)
	}
	wantRefs := []labels.BuildpackRef{{ID: "samples/curl", Version: "0.0.1", Homepage: "https://example.com/curl"}, {ID: "samples/tree", Version: "0.0.2", Homepage: "https://example.com/tree"}}
	if d := cmp.Diff(wantRefs, md.Extensions); d != "" {
		t.Errorf("builder metadata extensions (-want +got):\n%s", d)
	}
	var order labels.Order
	if _, err := labels.Decode(cf, labels.BuildpackOrderExtensions, &order); err != nil {
		t.Fatal(err)
	}
	wantOrder := labels.Order{{Group: []labels.BuildpackRef{{ID: "samples/curl", Version: "0.0.1"}, {ID: "samples/tree", Version: "0.0.2"}}}}
	if d := cmp.Diff(wantOrder, order); d != "" {
		t.Errorf("order-extensions label (-want +got):\n%s", d)
	}
	var ll labels.BuildpackLayersLabel
	if _, err := labels.Decode(cf, labels.ExtensionLayers, &ll); err != nil {
		t.Fatal(err)
	}
	treeDiff, err := tree.Layer.DiffID()
	if err != nil {
		t.Fatal(err)
	}
	if got := ll["samples/tree"]["0.0.2"].LayerDiffID; got != treeDiff.String() {
		t.Errorf("the packaged extension's layer is %s, want it kept as %s", got, treeDiff)
	}
	if !slices.Contains(configDiffIDs(t, img), ll["samples/curl"]["0.0.1"].LayerDiffID) {
		t.Errorf("curl's layer is not in the image")
	}
	var bpl labels.BuildpackLayersLabel
	if _, err := labels.Decode(cf, labels.BuildpackLayers, &bpl); err != nil {
		t.Fatal(err)
	}
	if _, ok := bpl["samples/curl"]; ok || len(bpl) != 1 {
		t.Errorf("buildpack layers label %v, want only acme/go", bpl)
	}

	// It opens with its extensions where the build looks for them.
	b, err := Open(bg, img, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	wantDOrder := descriptor.Order{{Group: []descriptor.GroupEntry{{ID: "samples/curl", Version: "0.0.1"}, {ID: "samples/tree", Version: "0.0.2"}}}}
	if d := cmp.Diff(wantDOrder, b.OrderExtensions); d != "" {
		t.Errorf("opened order-extensions (-want +got):\n%s", d)
	}
	ext, err := descriptor.NewExtensionLookup(b.ExtensionsDir()).Find("samples/tree", "0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(ext.Dir, "bin", "generate")); err != nil {
		t.Errorf("tree's bin/generate is not in the builder: %v", err)
	}
}

func TestCreateFromConfigExtensionErrors(t *testing.T) {
	tests := []struct {
		name, toml string
		want       []string
	}{
		{name: "order names a missing extension", toml: "[[order-extensions]]\n[[order-extensions.group]]\nid = \"nope\"\n",
			want: []string{"builder.toml: [[order-extensions]] #1, [[order-extensions.group]] #1:", "nope is not in the builder"}},
		{name: "a buildpack given as an extension", toml: "[[extensions]]\nuri = \"bps/go\"\n",
			want: []string{"builder.toml: [[extensions]] #1:", "is not an extension: it has no extension.toml"}},
		{name: "an extension given as a buildpack", toml: "[[buildpacks]]\nuri = \"exts/curl\"\n",
			want: []string{"builder.toml: [[buildpacks]] #2:", "is not a buildpack"}},
		{name: "declared id differs", toml: "[[extensions]]\nuri = \"exts/curl\"\nid = \"samples/wget\"\n",
			want: []string{"[[extensions]] #1:", "brings samples/curl@0.0.1, not samples/wget"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeComponent(t, filepath.Join(dir, "bps"), "go", "acme/go", "1.0.0")
			writeExtension(t, filepath.Join(dir, "exts"), "curl", "samples/curl", "0.0.1")
			text := "[[buildpacks]]\nuri = \"bps/go\"\n[[order]]\n[[order.group]]\nid = \"acme/go\"\n[build]\nimage = \"build:1\"\n[[run.images]]\nimage = \"run:1\"\n" + tc.toml
			_, err := createFromText(t, dir, text, map[string]v1.Image{"build:1": buildImage(t)})
			if err == nil || !containsAll(err.Error(), tc.want...) {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
			if !buildpackage.IsInputError(err) {
				t.Errorf("%v is not an input error", err)
			}
		})
	}
}
