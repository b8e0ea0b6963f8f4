package builder

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kiln-build/kiln/lifecycle/buildpackage"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

const dirsBuilderTOML = `description = "test builder"

[[buildpacks]]
uri = "bps/go"

[[buildpacks]]
uri = "./bps/node"
id = "acme/node"

[[buildpacks]]
uri = "bps/meta"

[[order]]
[[order.group]]
id = "acme/meta"

[[order]]
[[order.group]]
id = "acme/go"
version = "1.0.0"
[[order.group]]
id = "acme/node"
optional = true

[build]
image = "build:1"

[[run.images]]
image = "run:1"
mirrors = ["mirror/run:1"]

[lifecycle]
version = "0.20.0"
`

// writeBuildpacks writes acme/go, acme/node and the composite acme/meta
// (go, then node optional) under dir/bps.
func writeBuildpacks(t *testing.T, dir string) {
	t.Helper()
	bps := filepath.Join(dir, "bps")
	writeComponent(t, bps, "go", "acme/go", "1.0.0")
	writeComponent(t, bps, "node", "acme/node", "2.0.0")
	writeComposite(t, bps, "meta", "acme/meta", "0.1.0", "acme/go@1.0.0", "acme/node@2.0.0?")
}

func createFromText(t *testing.T, dir, text string, images map[string]v1.Image) (v1.Image, error) {
	t.Helper()
	p := filepath.Join(dir, "builder.toml")
	writeFile(t, p, 0o644, text)
	cfg, err := ReadConfig(p)
	if err != nil {
		return nil, err
	}
	return CreateFromConfig(bg, cfg, ConfigOptions{Images: mapImages(images), Version: "test", TempDir: t.TempDir()})
}

// A builder made from buildpack directories carries them, the resolved
// order, the run images and pack's labels, and opens as a builder.
func TestCreateFromConfigDirs(t *testing.T) {
	dir := t.TempDir()
	writeBuildpacks(t, dir)
	images := map[string]v1.Image{"build:1": buildImage(t)}
	img, err := createFromText(t, dir, dirsBuilderTOML, images)
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
	wantBps := []labels.BuildpackRef{
		{ID: "acme/go", Version: "1.0.0", Homepage: "https://example.com/go"},
		{ID: "acme/meta", Version: "0.1.0"},
		{ID: "acme/node", Version: "2.0.0", Homepage: "https://example.com/node"},
	}
	if d := cmp.Diff(wantBps, md.Buildpacks); d != "" {
		t.Errorf("builder metadata buildpacks (-want +got):\n%s", d)
	}
	if md.Description != "test builder" || md.CreatedBy.Name != "kiln" || md.CreatedBy.Version != "test" {
		t.Errorf("builder metadata %+v", md)
	}
	wantRun := []labels.ImageRef{{Image: "run:1", Mirrors: []string{"mirror/run:1"}}}
	if d := cmp.Diff(wantRun, md.Images); d != "" {
		t.Errorf("run images (-want +got):\n%s", d)
	}
	if md.Stack.RunImage.Image != "run:1" {
		t.Errorf("stack run image %q", md.Stack.RunImage.Image)
	}

	// Order versions left out are filled in.
	var order labels.Order
	if _, err := labels.Decode(cf, labels.BuildpackOrder, &order); err != nil {
		t.Fatal(err)
	}
	wantOrder := labels.Order{
		{Group: []labels.BuildpackRef{{ID: "acme/meta", Version: "0.1.0"}}},
		{Group: []labels.BuildpackRef{{ID: "acme/go", Version: "1.0.0"}, {ID: "acme/node", Version: "2.0.0", Optional: true}}},
	}
	if d := cmp.Diff(wantOrder, order); d != "" {
		t.Errorf("order label (-want +got):\n%s", d)
	}

	// One layer per buildpack, each named in the layers label.
	var ll labels.BuildpackLayersLabel
	if _, err := labels.Decode(cf, labels.BuildpackLayers, &ll); err != nil {
		t.Fatal(err)
	}
	diffs := configDiffIDs(t, img)
	for _, ref := range []string{"acme/go@1.0.0", "acme/node@2.0.0", "acme/meta@0.1.0"} {
		id, v, _ := strings.Cut(ref, "@")
		info, ok := ll[id][v]
		if !ok {
			t.Errorf("layers label lacks %s", ref)
			continue
		}
		if !slices.Contains(diffs, info.LayerDiffID) {
			t.Errorf("%s: layer %s is not in the image", ref, info.LayerDiffID)
		}
		if info.API != "0.10" {
			t.Errorf("%s: api %q", ref, info.API)
		}
	}
	if got := ll["acme/go"]["1.0.0"].Name; got != "The go buildpack" {
		t.Errorf("go name in label %q", got)
	}
	if d := cmp.Diff(labels.Order{{Group: []labels.BuildpackRef{{ID: "acme/go", Version: "1.0.0"}, {ID: "acme/node", Version: "2.0.0", Optional: true}}}}, ll["acme/meta"]["0.1.0"].Order); d != "" {
		t.Errorf("meta order in layers label (-want +got):\n%s", d)
	}
	if len(diffs) != 2+3+1 {
		t.Errorf("%d layers, want 2 base + 3 buildpacks + 1 config", len(diffs))
	}
	if cf.Config.Labels[labels.StackID] != "io.kiln.test" || !slices.Contains(cf.Config.Env, "CNB_USER_ID=1001") {
		t.Errorf("build image config not kept: %v %v", cf.Config.Labels, cf.Config.Env)
	}

	// It opens as a builder: files in place, order and run images read back.
	b, err := Open(bg, img, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	wantDOrder := descriptor.Order{
		{Group: []descriptor.GroupEntry{{ID: "acme/meta", Version: "0.1.0"}}},
		{Group: []descriptor.GroupEntry{{ID: "acme/go", Version: "1.0.0"}, {ID: "acme/node", Version: "2.0.0", Optional: true}}},
	}
	if d := cmp.Diff(wantDOrder, b.Order, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("opened order (-want +got):\n%s", d)
	}
	if d := cmp.Diff(RunImages{Images: []RunImage{{Image: "run:1", Mirrors: []string{"mirror/run:1"}}}}, b.Run); d != "" {
		t.Errorf("opened run images (-want +got):\n%s", d)
	}
	if b.UID != 1001 || b.GID != 1002 {
		t.Errorf("CNB user %d:%d", b.UID, b.GID)
	}
	if _, err := descriptor.NewLookup(b.BuildpacksDir()).Find("acme/meta", "0.1.0"); err != nil {
		t.Errorf("meta buildpack not in the builder's file system: %v", err)
	}
	if _, err := os.Stat(filepath.Join(b.BuildpacksDir(), "acme_node", "2.0.0", "bin", "build")); err != nil {
		t.Errorf("node bin/build not unpacked: %v", err)
	}

	// Reproducible: the same inputs give the same digest.
	again, err := createFromText(t, dir, dirsBuilderTOML, images)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("digests differ: %s and %s", d1, d2)
	}
}

// packageMeta packages acme/meta with its members as dir/meta.cnb and
// returns the package image.
func packageMeta(t *testing.T, dir string) v1.Image {
	t.Helper()
	writeBuildpacks(t, dir)
	writeFile(t, filepath.Join(dir, "bps", "meta", "package.toml"), 0o644, "[[dependencies]]\nuri = \"../go\"\n[[dependencies]]\nuri = \"../node\"\n")
	cfg, err := buildpackage.ReadConfig(filepath.Join(dir, "bps", "meta", "package.toml"))
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := buildpackage.FromConfig(bg, cfg, &buildpackage.Resolver{Layers: buildpackage.LayerOptions{TempDir: t.TempDir()}}, buildpackage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := buildpackage.WriteFile(bg, filepath.Join(dir, "meta.cnb"), pkg); err != nil {
		t.Fatal(err)
	}
	return pkg
}

// A buildpackage brings all its buildpacks, each layer reused as it is.
func TestCreateFromConfigCNB(t *testing.T) {
	dir := t.TempDir()
	pkg := packageMeta(t, dir)
	img, err := createFromText(t, dir, `[[buildpacks]]
uri = "meta.cnb"
id = "acme/meta"
version = "0.1.0"

[[order]]
[[order.group]]
id = "acme/meta"

[build]
image = "build:1"

[[run.images]]
image = "run:1"
`, map[string]v1.Image{"build:1": buildImage(t)})
	if err != nil {
		t.Fatal(err)
	}
	got := configDiffIDs(t, img)
	for _, d := range configDiffIDs(t, pkg) {
		if !slices.Contains(got, d) {
			t.Errorf("package layer %s is not reused in the builder (%v)", d, got)
		}
	}
	cf, _ := img.ConfigFile()
	var ll labels.BuildpackLayersLabel
	labels.Decode(cf, labels.BuildpackLayers, &ll)
	pcf, _ := pkg.ConfigFile()
	var pll labels.BuildpackLayersLabel
	labels.Decode(pcf, labels.BuildpackLayers, &pll)
	if d := cmp.Diff(pll, ll); d != "" {
		t.Errorf("builder layers label differs from the package's (-package +builder):\n%s", d)
	}
	// the buildpacks from the package are where kiln build looks for them
	b, err := Open(bg, img, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	lookup := descriptor.NewLookup(b.BuildpacksDir())
	for _, ref := range [][2]string{{"acme/meta", "0.1.0"}, {"acme/go", "1.0.0"}, {"acme/node", "2.0.0"}} {
		if _, err := lookup.Find(ref[0], ref[1]); err != nil {
			t.Errorf("unpacked builder: %v", err)
		}
	}
	// the builder's manifest names the layers in its own (Docker) style
	m, _ := img.Manifest()
	for _, l := range m.Layers {
		if l.MediaType != m.Layers[0].MediaType {
			t.Errorf("mixed layer media types: %s and %s", m.Layers[0].MediaType, l.MediaType)
		}
	}
}

// Buildpackage and build images come from a registry.
func TestCreateFromConfigRegistry(t *testing.T) {
	dir := t.TempDir()
	pkg := packageMeta(t, dir)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	for ref, img := range map[string]v1.Image{host + "/acme/meta:0.1.0": pkg, host + "/acme/build:1": buildImage(t)} {
		r, _ := name.ParseReference(ref)
		if err := remote.Write(r, img); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "builder.toml")
	writeFile(t, p, 0o644, `[[buildpacks]]
uri = "docker://`+host+`/acme/meta:0.1.0"
[[order]]
[[order.group]]
id = "acme/meta"
[stack]
id = "io.kiln.test"
build-image = "`+host+`/acme/build:1"
run-image = "`+host+`/acme/run:1"
`)
	cfg, err := ReadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	images := buildpackage.ImageSourceFunc(func(ctx context.Context, s string) (v1.Image, error) {
		r, err := name.ParseReference(s)
		if err != nil {
			return nil, err
		}
		return remote.Image(r, remote.WithContext(ctx))
	})
	img, err := CreateFromConfig(bg, cfg, ConfigOptions{Images: images, Version: "test", TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	var md labels.Builder
	labels.Decode(cf, labels.BuilderMetadata, &md)
	if len(md.Buildpacks) != 3 || md.Stack.RunImage.Image != host+"/acme/run:1" {
		t.Errorf("builder metadata %+v", md)
	}
	// write it back to the registry: every layer must be readable
	r, _ := name.ParseReference(host + "/acme/builder:1")
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
}

// Every problem gets one error naming builder.toml and the entry, and no
// image.
func TestCreateFromConfigErrors(t *testing.T) {
	dir := t.TempDir()
	writeBuildpacks(t, dir)
	writeFile(t, filepath.Join(dir, "empty", "README"), 0o644, "nothing")
	writeFile(t, filepath.Join(dir, "broken", "buildpack.toml"), 0o644, "api = \"0.10\"\n[buildpack]\nid = \"acme/broken\"\nversion = \"1\"\n")
	writeComponent(t, filepath.Join(dir, "v2"), "go", "acme/go", "2.0.0")
	noUser := buildImage(t, "FOO=bar")
	tail := "[build]\nimage = \"build:1\"\n[[run.images]]\nimage = \"run:1\"\n"
	toml := filepath.Join(dir, "builder.toml")
	for _, tc := range []struct {
		name     string
		text     string
		build    v1.Image
		wantErr  []string
		notInput bool
	}{
		{
			name:    "missing uri",
			text:    "[[buildpacks]]\nuri = \"bps/go\"\n[[buildpacks]]\nuri = \"bps/missing\"\n" + tail,
			wantErr: []string{toml + ": [[buildpacks]] #2:", `"bps/missing"`, "does not exist"},
		},
		{
			name:    "not a buildpack",
			text:    "[[buildpacks]]\nuri = \"empty\"\n" + tail,
			wantErr: []string{toml + ": [[buildpacks]] #1:", "is not a buildpack"},
		},
		{
			name:    "invalid buildpack",
			text:    "[[buildpacks]]\nuri = \"broken\"\n" + tail,
			wantErr: []string{toml + ": [[buildpacks]] #1:", "needs bin/detect and bin/build"},
		},
		{
			name:    "order names a missing buildpack",
			text:    "[[buildpacks]]\nuri = \"bps/go\"\n[[order]]\n[[order.group]]\nid = \"acme/go\"\n[[order.group]]\nid = \"acme/ruby\"\n" + tail,
			wantErr: []string{toml + ": [[order]] #1, [[order.group]] #2:", "acme/ruby is not in the builder"},
		},
		{
			name:    "order names a missing version",
			text:    "[[buildpacks]]\nuri = \"bps/go\"\n[[order]]\n[[order.group]]\nid = \"acme/go\"\nversion = \"9\"\n" + tail,
			wantErr: []string{toml + ": [[order]] #1, [[order.group]] #1:", "acme/go@9 is not in the builder (it has acme/go@1.0.0)"},
		},
		{
			name:    "order without version, several versions",
			text:    "[[buildpacks]]\nuri = \"bps/go\"\n[[buildpacks]]\nuri = \"v2/go\"\n[[order]]\n[[order.group]]\nid = \"acme/go\"\n" + tail,
			wantErr: []string{toml + ": [[order]] #1, [[order.group]] #1:", "several versions", "acme/go@1.0.0, acme/go@2.0.0"},
		},
		{
			name:    "composite member missing",
			text:    "[[buildpacks]]\nuri = \"bps/meta\"\n[[buildpacks]]\nuri = \"bps/go\"\n[[order]]\n[[order.group]]\nid = \"acme/meta\"\n" + tail,
			wantErr: []string{toml + ": composite buildpack acme/meta@0.1.0", "[[order.group]] #2", "acme/node@2.0.0 is not in the builder"},
		},
		{
			name:    "declared id differs",
			text:    "[[buildpacks]]\nuri = \"bps/go\"\nid = \"acme/golang\"\n" + tail,
			wantErr: []string{toml + ": [[buildpacks]] #1:", "brings acme/go@1.0.0, not acme/golang"},
		},
		{
			name:    "declared version differs",
			text:    "[[buildpacks]]\nuri = \"bps/go\"\nid = \"acme/go\"\nversion = \"1.1\"\n" + tail,
			wantErr: []string{"[[buildpacks]] #1:", "not acme/go@1.1"},
		},
		{
			name:    "build image without CNB user",
			text:    "[[buildpacks]]\nuri = \"bps/go\"\n" + tail,
			build:   noUser,
			wantErr: []string{toml + ": build image build:1", "CNB_USER_ID"},
		},
		{
			name:     "build image missing",
			text:     "[[buildpacks]]\nuri = \"bps/go\"\n[build]\nimage = \"nothing:1\"\n[[run.images]]\nimage = \"run:1\"\n",
			wantErr:  []string{toml + ": opening build image nothing:1"},
			notInput: true,
		},
		{
			name:    "stack id differs",
			text:    "[[buildpacks]]\nuri = \"bps/go\"\n[stack]\nid = \"other\"\nbuild-image = \"build:1\"\nrun-image = \"run:1\"\n",
			wantErr: []string{toml + ": [stack] id is \"other\"", "io.kiln.test"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			build := tc.build
			if build == nil {
				build = buildImage(t)
			}
			img, err := createFromText(t, dir, tc.text, map[string]v1.Image{"build:1": build})
			if err == nil {
				t.Fatalf("no error; want %q", tc.wantErr)
			}
			t.Logf("error: %v", err)
			if img != nil {
				t.Error("an image was returned with the error")
			}
			if !containsAll(err.Error(), tc.wantErr...) {
				t.Errorf("error %q\nwant it to contain %q", err, tc.wantErr)
			}
			if buildpackage.IsInputError(err) == tc.notInput {
				t.Errorf("IsInputError(%v) = %v", err, !tc.notInput)
			}
		})
	}
}
