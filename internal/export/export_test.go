package export

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/labels"
	"github.com/kiln-build/kiln/lifecycle/launch"
)

func write(t testing.TB, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fixture lays out a build's layers and app dirs as the build phase leaves them.
func fixture(t testing.TB) (layers, app string, md launch.Metadata) {
	layers, app = t.TempDir(), t.TempDir()
	write(t, filepath.Join(layers, "acme_rt", "rt.toml"), "[types]\nlaunch = true\n[metadata]\nversion = \"1\"\n")
	write(t, filepath.Join(layers, "acme_rt", "rt", "bin", "rt"), "#!/bin/sh\n")
	write(t, filepath.Join(layers, "acme_rt", "rt.sbom.cdx.json"), "{}")
	write(t, filepath.Join(layers, "acme_rt", "tools.toml"), "[types]\nbuild = true\ncache = true\n")
	write(t, filepath.Join(layers, "acme_rt", "tools", "x"), "x")
	write(t, filepath.Join(layers, "acme_rt", "store.toml"), "[metadata]\nruns = 1\n")
	write(t, filepath.Join(app, "main.sh"), "echo hi")
	write(t, filepath.Join(app, "static", "a.css"), "a")
	write(t, filepath.Join(app, "static", "b.css"), "b")
	md = launch.Metadata{
		BuildpackDefaultProcessType: "web",
		Buildpacks:                  []launch.MetadataBuildpack{{ID: "acme/rt", Version: "1.0", API: "0.12"}},
		Processes: []launch.MetadataProcess{
			{Type: "web", Command: []string{"./main.sh"}, Direct: true, BuildpackID: "acme/rt"},
			{Type: "worker", Command: []string{"sleep"}, Args: []string{"1"}, Direct: true, BuildpackID: "acme/rt"},
		},
		Slices: []launch.Slice{{Paths: []string{"static/*"}}},
		Labels: []launch.Label{{Key: "org.example", Value: "yes"}},
	}
	os.MkdirAll(filepath.Join(layers, "config"), 0o755)
	if err := launch.WriteMetadata(filepath.Join(layers, "config", "metadata.toml"), md); err != nil {
		t.Fatal(err)
	}
	return layers, app, md
}

func options(t testing.TB, run v1.Image, layers, app string, md launch.Metadata) Options {
	return Options{
		RunImage:     run,
		RunImageInfo: labels.RunImage{Image: "example.com/run:1"},
		LayersDir:    layers, AppDir: app,
		Group:    []descriptor.GroupEntry{{ID: "acme/rt", Version: "1.0", API: "0.12"}},
		Metadata: md,
		Launcher: []byte("launcher"),
		UID:      1234, GID: 2345,
		TempDir: t.TempDir(),
	}
}

func files(t *testing.T, l v1.Layer) map[string]*tar.Header {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = h
	}
}

func names(m map[string]*tar.Header) []string {
	var out []string
	for n := range m {
		out = append(out, strings.TrimSuffix(n, "/"))
	}
	sort.Strings(out)
	return out
}

func TestExport(t *testing.T) {
	ctx := context.Background()
	run, err := random.Image(100, 2)
	if err != nil {
		t.Fatal(err)
	}
	layers, app, md := fixture(t)
	res, err := Export(ctx, options(t, run, layers, app, md))
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(res.Image); err != nil {
		t.Fatalf("exported image is not valid: %v", err)
	}
	ls, err := res.Image.Layers()
	if err != nil {
		t.Fatal(err)
	}
	// run(2) + rt + sbom + slice + app + launcher + config
	if len(ls) != 8 {
		t.Fatalf("%d layers, want 8", len(ls))
	}
	want := [][]string{
		{"layers", "layers/acme_rt", "layers/acme_rt/rt", "layers/acme_rt/rt/bin", "layers/acme_rt/rt/bin/rt"},
		{"layers", "layers/sbom", "layers/sbom/launch", "layers/sbom/launch/acme_rt", "layers/sbom/launch/acme_rt/rt", "layers/sbom/launch/acme_rt/rt/sbom.cdx.json"},
		{"workspace", "workspace/static", "workspace/static/a.css", "workspace/static/b.css"},
		{"workspace", "workspace/main.sh"},
		{"cnb", "cnb/lifecycle", "cnb/lifecycle/launcher"},
		{"cnb", "cnb/process", "cnb/process/web", "cnb/process/worker", "layers", "layers/config", "layers/config/metadata.toml"},
	}
	for i, w := range want {
		got := files(t, ls[2+i])
		if d := cmp.Diff(w, names(got)); d != "" {
			t.Errorf("layer %d (-want +got):\n%s", 2+i, d)
		}
		for n, h := range got {
			if !h.ModTime.Equal(time1980) || h.Uname != "" || h.Gname != "" {
				t.Errorf("layer %d %s: mtime %v uname %q gname %q", 2+i, n, h.ModTime, h.Uname, h.Gname)
			}
			if strings.HasPrefix(n, "workspace/") && (h.Uid != 1234 || h.Gid != 2345) {
				t.Errorf("%s owned by %d:%d, want the CNB user", n, h.Uid, h.Gid)
			}
			if n == "cnb/lifecycle/launcher" && (h.Uid != 0 || h.Mode&0o777 != 0o755) {
				t.Errorf("launcher owner %d mode %o", h.Uid, h.Mode)
			}
			if n == "cnb/process/web" && (h.Typeflag != tar.TypeSymlink || h.Linkname != "/cnb/lifecycle/launcher") {
				t.Errorf("process link %+v", h)
			}
		}
	}
	cfg, err := res.Image.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"/cnb/process/web"}, cfg.Config.Entrypoint); d != "" {
		t.Errorf("entrypoint: %s", d)
	}
	if cfg.Config.WorkingDir != "/workspace" || cfg.Config.Cmd != nil {
		t.Errorf("workdir %q cmd %q", cfg.Config.WorkingDir, cfg.Config.Cmd)
	}
	env := strings.Join(cfg.Config.Env, "\n")
	for _, w := range []string{"CNB_LAYERS_DIR=/layers", "CNB_APP_DIR=/workspace", "PATH=/cnb/process:/usr/local/sbin"} {
		if !strings.Contains(env, w) {
			t.Errorf("env lacks %s:\n%s", w, env)
		}
	}
	if cfg.Config.Labels["org.example"] != "yes" {
		t.Errorf("buildpack label missing: %v", cfg.Config.Labels)
	}
	var lm labels.Lifecycle
	if ok, err := labels.Decode(cfg, labels.LifecycleMetadata, &lm); !ok || err != nil {
		t.Fatalf("lifecycle label: %v %v", ok, err)
	}
	top, _ := ls[1].DiffID()
	rtDiff, _ := ls[2].DiffID()
	if lm.RunImage.TopLayer != top.String() || lm.RunImage.Image != "example.com/run:1" || lm.RunImage.Reference == "" {
		t.Errorf("runImage %+v", lm.RunImage)
	}
	if len(lm.Buildpacks) != 1 || lm.Buildpacks[0].Layers["rt"].SHA != rtDiff.String() || len(lm.Buildpacks[0].Layers) != 1 {
		t.Errorf("buildpacks %+v", lm.Buildpacks)
	}
	if lm.Buildpacks[0].Store == nil || lm.Buildpacks[0].Store.Metadata["runs"] == nil {
		t.Errorf("store not recorded: %+v", lm.Buildpacks[0].Store)
	}
	if len(lm.App) != 2 || lm.SBOM == nil {
		t.Errorf("app %v sbom %v", lm.App, lm.SBOM)
	}

	// Same input, same digest, also from a copy of the app with other mtimes.
	again, err := Export(ctx, options(t, run, layers, app, md))
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := res.Image.Digest()
	d2, _ := again.Image.Digest()
	if d1 != d2 {
		t.Errorf("two exports differ: %s %s", d1, d2)
	}
}

func TestExportProcessChoice(t *testing.T) {
	run, _ := random.Image(10, 1)
	layers, app, md := fixture(t)
	o := options(t, run, layers, app, md)
	o.DefaultProcess = "worker"
	res, err := Export(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := res.Image.ConfigFile()
	if cfg.Config.Entrypoint[0] != "/cnb/process/worker" {
		t.Errorf("entrypoint %v", cfg.Config.Entrypoint)
	}
	o.DefaultProcess = "nope"
	if _, err := Export(context.Background(), o); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown process: %v", err)
	}
}

func TestExportReusesLaunchLayerFromPreviousImage(t *testing.T) {
	ctx := context.Background()
	run, _ := random.Image(10, 1)
	layers, app, md := fixture(t)
	first, err := Export(ctx, options(t, run, layers, app, md))
	if err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(layers, "acme_rt", "rt"))
	o := options(t, run, layers, app, md)
	if _, err := Export(ctx, o); err == nil || !strings.Contains(err.Error(), "acme/rt:rt") {
		t.Fatalf("without previous image: %v", err)
	}
	o.Previous = first.Image
	second, err := Export(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := first.Image.Digest()
	d2, _ := second.Image.Digest()
	if d1 != d2 {
		t.Errorf("reused layer changed the image: %s vs %s", d1, d2)
	}
}

var time1980 = mustTime()

func mustTime() time.Time { return archive.DefaultModTime }

// Unchanged trees are taken from the previous image without re-tarring;
// a changed one is written anew.
func TestExportReusesUnchangedLayers(t *testing.T) {
	ctx := context.Background()
	run, _ := random.Image(10, 1)
	layers, app, md := fixture(t)
	var log strings.Builder
	o := options(t, run, layers, app, md)
	o.Log = &log
	first, err := Export(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Memo) != 4 || strings.Contains(log.String(), "Reusing") {
		t.Fatalf("memo %v, log:\n%s", first.Memo, log.String())
	}
	log.Reset()
	o.Previous, o.Memo = first.Image, first.Memo
	second, err := Export(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(log.String(), "Reusing unchanged layer"); got != 4 {
		t.Errorf("reused %d layers (the launcher's too), want 4:\n%s", got, log.String())
	}
	d1, _ := first.Image.Digest()
	d2, _ := second.Image.Digest()
	if d1 != d2 {
		t.Errorf("reuse changed the digest: %s -> %s", d1, d2)
	}
	write(t, filepath.Join(app, "main.sh"), "echo changed")
	log.Reset()
	third, err := Export(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(log.String(), "Reusing unchanged layer"); got != 3 {
		t.Errorf("reused %d layers after an app change, want 3:\n%s", got, log.String())
	}
	// Another launcher is another layer.
	o.Launcher = append(bytes.Clone(o.Launcher), 0)
	log.Reset()
	if _, err := Export(ctx, o); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(log.String(), "Reusing unchanged layer launcher") {
		t.Errorf("a changed launcher was reused:\n%s", log.String())
	}
	ls, _ := third.Image.Layers()
	if !strings.Contains(fmt.Sprint(names(files(t, ls[4]))), "workspace/main.sh") {
		t.Error("app layer missing main.sh")
	}
	if d3, _ := third.Image.Digest(); d3 == d1 {
		t.Error("a changed app kept the digest")
	}
}
