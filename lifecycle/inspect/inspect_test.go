package inspect

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/kiln-build/kiln/internal/testutil"
	"github.com/kiln-build/kiln/lifecycle/builder"
	"github.com/kiln-build/kiln/lifecycle/buildpackage"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

var bg = context.Background()

func component(t *testing.T, dir, id, version string) {
	t.Helper()
	testutil.WriteFile(t, filepath.Join(dir, "buildpack.toml"), fmt.Sprintf("api = \"0.10\"\n[buildpack]\nid = %q\nversion = %q\nname = \"%s buildpack\"\n", id, version, id), 0o644)
	testutil.WriteFile(t, filepath.Join(dir, "bin", "detect"), "#!/bin/sh\n", 0o755)
	testutil.WriteFile(t, filepath.Join(dir, "bin", "build"), "#!/bin/sh\n", 0o755)
}

// writeTestBuildpacks writes acme/go, acme/node, acme/python and two nested
// composites: acme/web = [acme/node, acme/go optional] and
// acme/all = [acme/web, acme/python optional].
func writeTestBuildpacks(t *testing.T, dir string) {
	component(t, filepath.Join(dir, "go"), "acme/go", "1.0.0")
	component(t, filepath.Join(dir, "node"), "acme/node", "2.0.0")
	component(t, filepath.Join(dir, "python"), "acme/python", "3.0.0")
	testutil.WriteFile(t, filepath.Join(dir, "web", "buildpack.toml"), `api = "0.10"
[buildpack]
id = "acme/web"
version = "0.1.0"
[[order]]
[[order.group]]
id = "acme/node"
version = "2.0.0"
[[order.group]]
id = "acme/go"
version = "1.0.0"
optional = true
`, 0o644)
	testutil.WriteFile(t, filepath.Join(dir, "all", "buildpack.toml"), `api = "0.10"
[buildpack]
id = "acme/all"
version = "9.0.0"
[[order]]
[[order.group]]
id = "acme/web"
version = "0.1.0"
[[order.group]]
id = "acme/python"
version = "3.0.0"
optional = true
`, 0o644)
}

func buildImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.Config.Env = []string{"CNB_USER_ID=1001", "CNB_GROUP_ID=1002"}
	cf.Config.Labels = map[string]string{labels.StackID: "io.kiln.test", labels.BaseDistroName: "debian", "org.example.other": "x"}
	out, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A builder made from builder.toml reads back with the same (nested)
// order, run images and buildpacks.
func TestBuilderRoundTrip(t *testing.T) {
	dir := t.TempDir()
	writeTestBuildpacks(t, filepath.Join(dir, "bps"))
	p := filepath.Join(dir, "builder.toml")
	testutil.WriteFile(t, p, `description = "round trip"
[[buildpacks]]
uri = "bps/go"
[[buildpacks]]
uri = "bps/node"
[[buildpacks]]
uri = "bps/python"
[[buildpacks]]
uri = "bps/web"
[[buildpacks]]
uri = "bps/all"
[[order]]
[[order.group]]
id = "acme/all"
[[order]]
[[order.group]]
id = "acme/python"
[[order.group]]
id = "acme/go"
optional = true
[build]
image = "build:1"
[[run.images]]
image = "run:1"
mirrors = ["mirror.example/run:1"]
`, 0o644)
	cfg, err := builder.ReadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	bimg := buildImage(t)
	images := buildpackage.ImageSourceFunc(func(_ context.Context, ref string) (v1.Image, error) {
		if ref == "build:1" {
			return bimg, nil
		}
		return nil, fmt.Errorf("no image %s", ref)
	})
	img, err := builder.CreateFromConfig(bg, cfg, builder.ConfigOptions{Images: images, Version: "1.2.3", TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Inspect(img)
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != KindBuilder || r.Builder == nil {
		t.Fatalf("kind %s", r.Kind)
	}
	b := r.Builder
	web := OrderEntry{ID: "acme/web", Version: "0.1.0", Order: []Group{{Group: []OrderEntry{
		{ID: "acme/node", Version: "2.0.0"}, {ID: "acme/go", Version: "1.0.0", Optional: true},
	}}}}
	wantOrder := []Group{
		{Group: []OrderEntry{{ID: "acme/all", Version: "9.0.0", Order: []Group{{Group: []OrderEntry{
			web, {ID: "acme/python", Version: "3.0.0", Optional: true},
		}}}}}},
		{Group: []OrderEntry{{ID: "acme/python", Version: "3.0.0"}, {ID: "acme/go", Version: "1.0.0", Optional: true}}},
	}
	if d := cmp.Diff(wantOrder, b.Order); d != "" {
		t.Errorf("order (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]RunImage{{Image: "run:1", Mirrors: []string{"mirror.example/run:1"}}}, b.RunImages); d != "" {
		t.Errorf("run images (-want +got):\n%s", d)
	}
	var ids []string
	for _, bp := range b.Buildpacks {
		ids = append(ids, fmt.Sprintf("%s@%s composite=%v", bp.ID, bp.Version, bp.Composite))
		if bp.DiffID == "" || bp.API != "0.10" {
			t.Errorf("buildpack %+v lacks diffID or api", bp)
		}
	}
	wantIDs := []string{"acme/all@9.0.0 composite=true", "acme/go@1.0.0 composite=false", "acme/node@2.0.0 composite=false", "acme/python@3.0.0 composite=false", "acme/web@0.1.0 composite=true"}
	if d := cmp.Diff(wantIDs, ids); d != "" {
		t.Errorf("buildpacks (-want +got):\n%s", d)
	}
	if b.Description != "round trip" || b.CreatedBy != "kiln 1.2.3" || b.BuildUser != "1001:1002" || b.Stack != "io.kiln.test" {
		t.Errorf("builder %+v", b)
	}
	if d := cmp.Diff(map[string]string{labels.StackID: "io.kiln.test", labels.BaseDistroName: "debian"}, b.BaseLabels); d != "" {
		t.Errorf("base labels (-want +got):\n%s", d)
	}

	// JSON round-trips the same report.
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(r, &back); d != "" {
		t.Errorf("JSON round trip (-before +after):\n%s", d)
	}

	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"builder image",
		"round trip",
		"  run:1\n  mirror.example/run:1 (mirror)",
		"Detection order:\n  Group 1:\n    acme/all@9.0.0\n      Group 1:\n        acme/web@0.1.0\n          Group 1:\n            acme/node@2.0.0\n            acme/go@1.0.0 (optional)\n        acme/python@3.0.0 (optional)\n  Group 2:\n    acme/python@3.0.0\n    acme/go@1.0.0 (optional)\n",
		"(composite)",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, text.String())
		}
	}
}

// An app image: buildpacks, processes with the default marked, the run
// image, base labels and what each layer holds.
func TestApp(t *testing.T) {
	run, err := random.Image(100, 2)
	if err != nil {
		t.Fatal(err)
	}
	img := run
	var diffs []string
	for i := 0; i < 4; i++ { // a buildpack layer, app, launcher, config
		l, err := random.Layer(64, "application/vnd.docker.image.rootfs.diff.tar.gzip")
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
		d, _ := l.DiffID()
		diffs = append(diffs, d.String())
	}
	runCfg, _ := run.ConfigFile()
	top := runCfg.RootFS.DiffIDs[1].String()
	md := labels.Lifecycle{
		App:      []labels.LayerSHA{{SHA: diffs[1]}},
		Launcher: labels.LayerSHA{SHA: diffs[2]},
		Config:   labels.LayerSHA{SHA: diffs[3]},
		Buildpacks: []labels.BuildpackEntry{{Key: "acme/go", Version: "1.0.0", Layers: map[string]labels.LayerMetadata{
			"toolchain": {SHA: diffs[0], Launch: true},
		}}},
		RunImage: labels.RunImage{Image: "run:1", Mirrors: []string{"m/run:1"}, TopLayer: top, Reference: "run@sha256:abc"},
	}
	build := labels.Build{
		Buildpacks: []labels.BuildpackRef{{ID: "acme/go", Version: "1.0.0", Homepage: "https://example.com/go"}},
		Processes: []labels.Process{
			{Type: "web", Command: []string{"/workspace/app"}, Args: []string{"--port", "8080"}, Direct: true, BuildpackID: "acme/go"},
			{Type: "worker", Command: []string{"worker.sh"}, BuildpackID: "acme/go"},
		},
		Launcher: labels.Launcher{Version: "0.9.0"},
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.Config.Entrypoint = []string{"/cnb/process/web"}
	cf.Config.Labels = map[string]string{labels.BaseID: "io.kiln.run", labels.StackID: "io.kiln.test", "maintainer": "x"}
	for k, v := range map[string]any{labels.LifecycleMetadata: md, labels.BuildMetadata: build} {
		s, _ := labels.Encode(v)
		cf.Config.Labels[k] = s
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	r, err := Inspect(img)
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != KindApp {
		t.Fatalf("kind %s", r.Kind)
	}
	a := r.App
	wantProcs := []Process{
		{Type: "web", Command: []string{"/workspace/app"}, Args: []string{"--port", "8080"}, Direct: true, BuildpackID: "acme/go", Default: true},
		{Type: "worker", Command: []string{"worker.sh"}, BuildpackID: "acme/go"},
	}
	if d := cmp.Diff(wantProcs, a.Processes); d != "" {
		t.Errorf("processes (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]BuildpackRef{{ID: "acme/go", Version: "1.0.0", Homepage: "https://example.com/go"}}, a.Buildpacks); d != "" {
		t.Errorf("buildpacks (-want +got):\n%s", d)
	}
	if d := cmp.Diff(RunImage{Image: "run:1", Mirrors: []string{"m/run:1"}, Reference: "run@sha256:abc", TopLayer: top}, a.RunImage); d != "" {
		t.Errorf("run image (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[string]string{labels.BaseID: "io.kiln.run", labels.StackID: "io.kiln.test"}, a.BaseLabels); d != "" {
		t.Errorf("base labels (-want +got):\n%s", d)
	}
	m, _ := img.Manifest()
	var roles []string
	for i, l := range a.Layers {
		roles = append(roles, l.Role)
		if l.Size != m.Layers[i].Size || l.Digest != m.Layers[i].Digest.String() {
			t.Errorf("layer %d: %+v, manifest says %+v", i, l, m.Layers[i])
		}
	}
	wantRoles := []string{"run image", "run image", "buildpack acme/go: toolchain", "app", "launcher", "config"}
	if d := cmp.Diff(wantRoles, roles); d != "" {
		t.Errorf("layer roles (-want +got):\n%s", d)
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Run image:", "run:1", "web (default)", "worker", "buildpack acme/go: toolchain", "io.buildpacks.base.id"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, text.String())
		}
	}
}

// A buildpackage shows its entrypoint, its buildpacks and the
// entrypoint's order.
func TestBuildpackage(t *testing.T) {
	dir := t.TempDir()
	writeTestBuildpacks(t, dir)
	testutil.WriteFile(t, filepath.Join(dir, "web", "package.toml"), "[[dependencies]]\nuri = \"../go\"\n[[dependencies]]\nuri = \"../node\"\n", 0o644)
	cfg, err := buildpackage.ReadConfig(filepath.Join(dir, "web", "package.toml"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := buildpackage.FromConfig(bg, cfg, &buildpackage.Resolver{Layers: buildpackage.LayerOptions{TempDir: t.TempDir()}}, buildpackage.Options{Arch: "arm64"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Inspect(img)
	if err != nil {
		t.Fatal(err)
	}
	p := r.Buildpackage
	if r.Kind != KindBuildpackage || p.ID != "acme/web" || p.Version != "0.1.0" || len(p.Buildpacks) != 3 || r.Architecture != "arm64" {
		t.Fatalf("report %+v / %+v", r, p)
	}
	want := []Group{{Group: []OrderEntry{{ID: "acme/node", Version: "2.0.0"}, {ID: "acme/go", Version: "1.0.0", Optional: true}}}}
	if d := cmp.Diff(want, p.Order); d != "" {
		t.Errorf("order (-want +got):\n%s", d)
	}
}

func TestNotCNB(t *testing.T) {
	img, _ := random.Image(10, 1)
	_, err := Inspect(img)
	if err == nil || !strings.Contains(err.Error(), "not a CNB image") {
		t.Errorf("error %v", err)
	}
}

// A cycle in a malformed layers label does not hang the expansion.
func TestOrderCycle(t *testing.T) {
	ll := labels.BuildpackLayersLabel{
		"a": {"1": {Order: labels.Order{{Group: []labels.BuildpackRef{{ID: "b", Version: "1"}}}}}},
		"b": {"1": {Order: labels.Order{{Group: []labels.BuildpackRef{{ID: "a"}}}}}},
	}
	got := expand(labels.Order{{Group: []labels.BuildpackRef{{ID: "a", Version: "1"}}}}, ll, 0)
	depth := 0
	for g := got; len(g) > 0; g = g[0].Group[0].Order {
		depth++
	}
	if depth != maxOrderDepth+1 {
		t.Errorf("expanded %d levels, want %d", depth, maxOrderDepth+1)
	}
}

func TestBuilders(t *testing.T) {
	store, err := imageio.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := random.Image(10, 1)
	if err := store.Put(bg, "plain", plain); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	component(t, filepath.Join(dir, "go"), "acme/go", "1.0.0")
	bp, err := buildpackage.FromDir(bg, filepath.Join(dir, "go"), buildpackage.LayerOptions{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	b, err := builder.Create(bg, buildImage(t), builder.CreateOptions{
		Packaged:    []buildpackage.Buildpack{bp},
		Description: "small",
		Run:         builder.RunImages{Images: []builder.RunImage{{Image: "run:1"}}},
		TempDir:     t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Put(bg, "acme/builder:1", b); err != nil {
		t.Fatal(err)
	}
	got, err := Builders(store)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := b.Digest()
	want := []BuilderEntry{{Name: "acme/builder:1", Digest: d.String(), Description: "small", Buildpacks: 1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("builders (-want +got):\n%s", diff)
	}
}

// A builder's image extensions and their order are listed apart from
// its buildpacks.
func TestBuilderExtensions(t *testing.T) {
	dir := t.TempDir()
	writeTestBuildpacks(t, filepath.Join(dir, "bps"))
	testutil.WriteFile(t, filepath.Join(dir, "exts", "curl", "extension.toml"), "api = \"0.10\"\n[extension]\nid = \"samples/curl\"\nversion = \"0.0.1\"\nname = \"Curl\"\n", 0o644)
	testutil.WriteFile(t, filepath.Join(dir, "exts", "curl", "bin", "generate"), "#!/bin/sh\n", 0o755)
	p := filepath.Join(dir, "builder.toml")
	testutil.WriteFile(t, p, `[[buildpacks]]
uri = "bps/go"
[[order]]
[[order.group]]
id = "acme/go"
[[extensions]]
uri = "exts/curl"
[[order-extensions]]
[[order-extensions.group]]
id = "samples/curl"
[build]
image = "build:1"
[[run.images]]
image = "run:1"
`, 0o644)
	cfg, err := builder.ReadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	bimg := buildImage(t)
	images := buildpackage.ImageSourceFunc(func(_ context.Context, ref string) (v1.Image, error) { return bimg, nil })
	img, err := builder.CreateFromConfig(bg, cfg, builder.ConfigOptions{Images: images, Version: "1", TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Inspect(img)
	if err != nil {
		t.Fatal(err)
	}
	b := r.Builder
	if len(b.Extensions) != 1 || b.Extensions[0].ID != "samples/curl" || b.Extensions[0].Name != "Curl" || b.Extensions[0].DiffID == "" {
		t.Errorf("extensions %+v", b.Extensions)
	}
	if len(b.Buildpacks) != 1 || b.Buildpacks[0].ID != "acme/go" {
		t.Errorf("buildpacks %+v", b.Buildpacks)
	}
	if d := cmp.Diff([]Group{{Group: []OrderEntry{{ID: "samples/curl", Version: "0.0.1"}}}}, b.OrderExtensions); d != "" {
		t.Errorf("extension order (-want +got):\n%s", d)
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Image extensions:\n  ID            VERSION  API   NAME  HOMEPAGE\n  samples/curl  0.0.1    0.10  Curl  -\n", "Extension order (tried before each group, each optional):\n  Group 1:\n    samples/curl@0.0.1"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, text.String())
		}
	}
}
