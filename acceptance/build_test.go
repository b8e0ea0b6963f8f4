//go:build acceptance

package acceptance

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

func pull(t testing.TB, ref string) v1.Image {
	t.Helper()
	img, err := imageio.New(nil, imageio.WithKeychain(authn.NewMultiKeychain())).Remote(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

var digestRE = regexp.MustCompile(`sha256:[0-9a-f]{64}`)

// builtDigest is the digest kiln build printed last.
func builtDigest(t testing.TB, out string) string {
	t.Helper()
	all := digestRE.FindAllString(out, -1)
	if len(all) == 0 {
		t.Fatalf("no digest in output:\n%s", out)
	}
	return all[len(all)-1]
}

// walkLayer calls fn for each entry of l with its name (no trailing
// slash); fn may read the entry's content from tr.
func walkLayer(t testing.TB, l v1.Layer, fn func(name string, h *tar.Header, tr *tar.Reader)) {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		fn(strings.TrimSuffix(h.Name, "/"), h, tr)
	}
}

// layerFiles is l's entries by name.
func layerFiles(t *testing.T, l v1.Layer) map[string]*tar.Header {
	t.Helper()
	out := map[string]*tar.Header{}
	walkLayer(t, l, func(name string, h *tar.Header, _ *tar.Reader) { out[name] = h })
	return out
}

// TestBuildPublishRun builds the sample app with the test builder, publishes
// it, pulls it back and runs it.
func TestBuildPublishRun(t *testing.T) {
	app := appSource(t)
	ref := env.reg.Host + "/kiln-test/app:latest"
	out := mustKiln(t, "build", ref, "--builder", env.builder, "--path", app, "--publish")
	wantContains(t, out,
		"pass: kiln-test/runtime@1.0.0",
		"pass: kiln-test/app@2.1.0",
		"fail: kiln-test/optional-fails@0.0.1",
		"runtime: plan asks for version 1.2.3",
		"app: RUNTIME_AT_BUILD=yes",
		"kiln-runtime 1.2.3: at build time",
	)
	wantNotContains(t, out, "optional-fails: must not run")
	digest := builtDigest(t, out)

	img := pull(t, ref)
	if d, _ := img.Digest(); d.String() != digest {
		t.Errorf("registry has %s, kiln printed %s", d, digest)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Config.Entrypoint, " "); got != "/cnb/process/web" {
		t.Errorf("entrypoint %q", got)
	}
	if cfg.Config.WorkingDir != "/workspace" {
		t.Errorf("working dir %q", cfg.Config.WorkingDir)
	}
	if cfg.Config.Labels["org.example.app"] != "kiln-test" {
		t.Errorf("buildpack label missing: %v", cfg.Config.Labels)
	}
	var lm labels.Lifecycle
	if ok, err := labels.Decode(cfg, labels.LifecycleMetadata, &lm); !ok || err != nil {
		t.Fatalf("lifecycle metadata: %v %v", ok, err)
	}
	if lm.RunImage.Image != env.runImage || !strings.HasPrefix(lm.RunImage.Reference, env.reg.Host+"/kiln-test/run@sha256:") {
		t.Errorf("runImage %+v", lm.RunImage)
	}
	runLayers, _ := env.runImg.Layers()
	top, _ := runLayers[len(runLayers)-1].DiffID()
	if lm.RunImage.TopLayer != top.String() {
		t.Errorf("topLayer %s, want %s", lm.RunImage.TopLayer, top)
	}
	var bm labels.Build
	if ok, err := labels.Decode(cfg, labels.BuildMetadata, &bm); !ok || err != nil {
		t.Fatalf("build metadata: %v %v", ok, err)
	}
	var ids []string
	for _, b := range bm.Buildpacks {
		ids = append(ids, b.ID)
	}
	if strings.Join(ids, ",") != "kiln-test/runtime,kiln-test/app" {
		t.Errorf("build metadata buildpacks %v", ids)
	}
	if len(bm.Processes) != 2 {
		t.Errorf("processes %+v", bm.Processes)
	}
	// The runtime layer is a launch layer; the cache layer is not exported.
	if len(lm.Buildpacks) != 2 || lm.Buildpacks[0].Layers["runtime"].SHA == "" {
		t.Fatalf("lifecycle buildpacks %+v", lm.Buildpacks)
	}
	if _, ok := lm.Buildpacks[0].Layers["cache"]; ok {
		t.Error("the cache-only layer was exported")
	}
	if len(lm.App) != 2 {
		t.Errorf("want a slice layer and the rest, got %d app layers", len(lm.App))
	}
	h, _ := v1.NewHash(lm.App[0].SHA)
	slice, err := img.LayerByDiffID(h)
	if err != nil {
		t.Fatal(err)
	}
	files := layerFiles(t, slice)
	if f := files["workspace/static/index.txt"]; f == nil || f.Uid != testUID || f.Gid != testGID || !f.ModTime.Equal(time.Date(1980, 1, 1, 0, 0, 1, 0, time.UTC)) {
		t.Errorf("slice layer file: %+v (all: %v)", f, files)
	}
	if _, ok := files["workspace/app.sh"]; ok {
		t.Error("app.sh is in the static slice")
	}

	// Run it: the default process, its env from the launch layer.
	out = mustKiln(t, "run", ref)
	wantContains(t, out,
		"app says: web | RUNTIME_VERSION=1.2.3 | GREETING=hello from the launch layer | EXTRA_PATH=/opt/extra | static=static content",
		"kiln-runtime 1.2.3: at launch",
	)
	// User args replace the process args; user env is the base the
	// buildpack's .append and .default apply to.
	out = mustKiln(t, "run", "-e", "EXTRA_PATH=/base", "-e", "GREETING=hi", ref, "--", "custom", "args")
	wantContains(t, out, "app says: custom args | RUNTIME_VERSION=1.2.3 | GREETING=hi | EXTRA_PATH=/base:/opt/extra")
	// The second process type.
	out = mustKiln(t, "run", "--process", "worker", ref)
	wantContains(t, out, "worker from-args hello from the launch layer")

	// A second build gets the cached build layer back, reuses the
	// launch-only layer from the previous image and uploads no layer.
	uploads := env.reg.Uploads()
	out = mustKiln(t, "build", ref, "--builder", env.builder, "--path", app, "--publish")
	wantContains(t, out, "RESTORED kiln-test/runtime:cache, kiln-test/runtime:runtime", "runtime: cache restored, count=1",
		"RESTORED METADATA kiln-test/runtime:assets", "runtime: reusing assets layer", "Reusing layer kiln-test/runtime:assets")
	wantNotContains(t, out, "runtime: cache empty")
	if n := env.reg.Uploads() - uploads; n != 0 {
		t.Errorf("a no-op rebuild uploaded %d blobs", n)
	}
	if d := builtDigest(t, out); d != digest {
		t.Errorf("a rebuild of the same source changed the digest: %s -> %s", digest, d)
	}
	out = mustKiln(t, "run", "--entrypoint", "/cnb/lifecycle/launcher", ref, "--", "cat", "/layers/kiln-test_runtime/assets/data.txt")
	wantContains(t, out, "asset data")
	// --clear-cache starts over.
	out = mustKiln(t, "build", ref, "--builder", env.builder, "--path", app, "--publish", "--clear-cache")
	wantContains(t, out, "runtime: cache empty")
	// A changed app uploads only the app layer (and the config).
	os.WriteFile(filepath.Join(app, "app.sh"), []byte("#!/usr/bin/env bash\necho changed app\n"), 0o755)
	uploads = env.reg.Uploads()
	mustKiln(t, "build", ref, "--builder", env.builder, "--path", app, "--publish")
	if n := env.reg.Uploads() - uploads; n != 2 {
		t.Errorf("a one-file change uploaded %d blobs, want 2 (app layer, config)", n)
	}
	wantContains(t, mustKiln(t, "run", ref), "changed app")
}

// TestBadReferences: unreachable registries and bad names are reported
// with the reference, and nothing is written.
func TestBadReferences(t *testing.T) {
	app := appSource(t)
	r := kiln(t, "build", "x", "--builder", "127.0.0.1:1/no/builder:latest", "--path", app)
	if r.code == 0 {
		t.Fatal("build with an unreachable builder succeeded")
	}
	wantContains(t, r.out, "127.0.0.1:1/no/builder:latest")
	// a mistyped builder name: the places tried, and where to look
	r = kiln(t, "build", "x", "--builder", "kiln-test/no-such-builder", "--path", app)
	if r.code == 0 {
		t.Fatal("build with a missing builder succeeded")
	}
	wantContains(t, r.out, "kiln-test/no-such-builder:latest is not in the local store", "from its registry", "kiln builder ls lists the builders")
	r = kiln(t, "build", "127.0.0.1:1/no/app", "--builder", env.builder, "--path", app, "--publish")
	if r.code != 30 {
		t.Errorf("push to an unreachable registry: exit %d, want 30 (found before building)", r.code)
	}
	wantContains(t, r.out, "127.0.0.1:1/no/app")
	wantNotContains(t, r.out, "BUILDING")
	r = kiln(t, "build", "Bad Name", "--builder", env.builder, "--path", app)
	if r.code != 2 {
		t.Errorf("bad image name: exit %d, want 2", r.code)
	}
	r = kiln(t, "build", "x", "--builder", env.builder, "--path", filepath.Join(app, "missing"))
	if r.code == 0 {
		t.Error("build of a missing source dir succeeded")
	}
	wantContains(t, r.out, "missing")
}

// TestBuildpackFailure: a failing bin/build surfaces its output and exit
// code, kiln exits 51, and nothing is written.
func TestBuildpackFailure(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "out")
	r := kiln(t, "build", "failing", "--builder", env.builder, "--path", appSource(t),
		"--env", "FAIL_BUILD=boom", "--output", "oci:"+dest)
	if r.code != 51 {
		t.Errorf("exit code %d, want 51", r.code)
	}
	wantContains(t, r.out, "app: failing on purpose: boom", "kiln-test/app@2.1.0", "exit code 7")
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Errorf("an image was written after a failed build: %v", err)
	}
}

// TestDetectFailure: no group passes; every buildpack's result is listed.
func TestDetectFailure(t *testing.T) {
	app := appSource(t)
	os.Remove(filepath.Join(app, "runtime.txt"))
	r := kiln(t, "build", "nodetect", "--builder", env.builder, "--path", app)
	if r.code != 20 {
		t.Errorf("exit code %d, want 20", r.code)
	}
	wantContains(t, r.out, "no buildpack group passed detection", "kiln-test/runtime@1.0.0", "no runtime.txt")
	if r := kiln(t, "run", "nodetect"); r.code == 0 {
		t.Error("an image was stored after failed detection")
	}
}

// TestReproducible: two builds of the same source give the same digest,
// also from another path with other mtimes.
func TestReproducible(t *testing.T) {
	a := appSource(t)
	b := appSource(t)
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	filepath.Walk(b, func(p string, _ os.FileInfo, _ error) error { return os.Chtimes(p, old, old) })
	d1 := builtDigest(t, mustKiln(t, "build", "repro-a", "--builder", env.builder, "--path", a, "--output", "oci:"+filepath.Join(t.TempDir(), "a")))
	d2 := builtDigest(t, mustKiln(t, "build", "repro-a", "--builder", env.builder, "--path", b, "--output", "oci:"+filepath.Join(t.TempDir(), "b")))
	if d1 != d2 {
		t.Errorf("digests differ: %s vs %s", d1, d2)
	}
}

// TestOutputsAndStore: the local store (kiln images), docker-archive and
// OCI layout outputs.
func TestOutputsAndStore(t *testing.T) {
	app := appSource(t)
	// A symlink leading out of the source tree is not followed into the image.
	if err := os.Symlink("/etc/passwd", filepath.Join(app, "escape")); err != nil {
		t.Fatal(err)
	}
	out := mustKiln(t, "build", "local/app", "--builder", env.builder, "--path", app)
	wantContains(t, out, "escape")
	list := mustKiln(t, "images")
	wantContains(t, list, "local/app:latest", builtDigest(t, out)[:19])
	run := mustKiln(t, "run", "local/app")
	wantContains(t, run, "app says: web")
	// The escaping symlink is not in the image.
	r := kiln(t, "run", "--entrypoint", "/cnb/lifecycle/launcher", "local/app", "--", "bash", "-c", "test -e /workspace/escape -o -L /workspace/escape && echo ESCAPE-PRESENT || echo escape-absent")
	wantContains(t, r.out, "escape-absent")
	arch := filepath.Join(t.TempDir(), "app.tar")
	mustKiln(t, "build", "local/app", "--builder", env.builder, "--path", app, "--output", "docker-archive:"+arch)
	if fi, err := os.Stat(arch); err != nil || fi.Size() == 0 {
		t.Errorf("docker-archive not written: %v", err)
	}
	mustKiln(t, "rm", "local/app")
	if r := kiln(t, "run", "local/app"); r.code == 0 {
		t.Error("run after rm succeeded")
	}
}

// TestBadBuildpackOutput: --buildpack with directories and builder ids;
// a malformed launch.toml or buildpack.toml is named in the error.
func TestBadBuildpackOutput(t *testing.T) {
	app := appSource(t)
	bp := func(n string) string { p, _ := filepath.Abs(filepath.Join("testdata", "buildpacks", n)); return p }
	r := kiln(t, "build", "bad/launch", "--builder", env.builder, "--path", app,
		"--buildpack", "kiln-test/runtime", "--buildpack", bp("bad-launch"))
	if r.code != 52 {
		t.Errorf("exit code %d, want 52", r.code)
	}
	wantContains(t, r.out, "launch.toml", "not a valid type!")
	r = kiln(t, "build", "bad/toml", "--builder", env.builder, "--path", app, "--buildpack", bp("bad-toml"))
	if r.code != 2 {
		t.Errorf("exit code %d, want 2", r.code)
	}
	wantContains(t, r.out, "buildpack.toml", "line")
	// A directory buildpack works beside the builder's.
	out := mustKiln(t, "build", "bp/dir", "--builder", env.builder, "--path", app,
		"--buildpack", "kiln-test/runtime", "--buildpack", bp("app"))
	wantContains(t, out, "pass: kiln-test/app@2.1.0")
	wantNotContains(t, out, "optional-fails")
}
