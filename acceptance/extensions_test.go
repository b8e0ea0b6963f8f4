//go:build acceptance

package acceptance

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/lifecycle/labels"
)

// TestExtensions: a builder made by kiln builder create with two image
// extensions. One always passes and its bin/generate switches the run
// image with a run.Dockerfile (FROM <image>): the app sits on that image,
// records it, runs, and rebases onto a newer push of its tag. The other
// passes only for apps with a needs-curl file and asks for RUN, which
// kiln refuses before the build phase, naming the extension.
func TestExtensions(t *testing.T) {
	dir := t.TempDir()
	write := func(p, body string, mode os.FileMode) {
		t.Helper()
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	switchedRef := env.reg.Host + "/kiln-test/some-run-image:latest"
	switched := patchedRunImage(t, env.runImg, "switched by an extension\n", map[string]string{"io.kiln.test.variant": "switched"})
	pushImage(t, switchedRef, switched)

	write("exts/switch/extension.toml", "api = \"0.10\"\n[extension]\nid = \"kiln-test/switch-run\"\nversion = \"0.0.1\"\n", 0o644)
	write("exts/switch/bin/detect", "#!/bin/sh\nexit 0\n", 0o755)
	write("exts/switch/bin/generate", fmt.Sprintf("#!/bin/sh\nset -e\necho \"switch-run: generating in $1\"\nprintf 'ARG base_image\\nFROM %s\\n' > \"$1/run.Dockerfile\"\n", switchedRef), 0o755)
	write("exts/curl/extension.toml", "api = \"0.10\"\n[extension]\nid = \"kiln-test/curl\"\nversion = \"0.0.1\"\n", 0o644)
	write("exts/curl/bin/detect", "#!/bin/sh\ntest -f needs-curl || exit 100\n", 0o755)
	write("exts/curl/bin/generate", "#!/bin/sh\nprintf 'ARG base_image\\nFROM ${base_image}\\nUSER root\\nRUN apt-get update && apt-get install -y curl\\n' > \"$1/run.Dockerfile\"\n", 0o755)
	abs := func(n string) string { p, _ := filepath.Abs(filepath.Join("testdata", "buildpacks", n)); return p }
	write("builder.toml", fmt.Sprintf(`[[buildpacks]]
uri = %q
[[buildpacks]]
uri = %q

[[order]]
[[order.group]]
id = "kiln-test/runtime"
[[order.group]]
id = "kiln-test/app"

[[extensions]]
uri = "exts/switch"
[[extensions]]
uri = "exts/curl"

[[order-extensions]]
[[order-extensions.group]]
id = "kiln-test/switch-run"
[[order-extensions.group]]
id = "kiln-test/curl"

[build]
image = %q

[[run.images]]
image = %q
`, abs("runtime"), abs("app"), env.buildImage, env.runImage), 0o644)
	builderRef := env.reg.Host + "/kiln-test/ext-builder:latest"
	mustKiln(t, "builder", "create", builderRef, "--config", filepath.Join(dir, "builder.toml"), "--publish")
	wantContains(t, mustKiln(t, "inspect", builderRef), "Image extensions:", "kiln-test/switch-run", "kiln-test/curl",
		"Extension order (tried before each group, each optional):")

	// The switch: built, recorded, on the switched image's layers.
	ref := env.reg.Host + "/kiln-test/ext-app:latest"
	out := mustKiln(t, "build", ref, "--builder", builderRef, "--path", appSource(t), "--publish")
	wantContains(t, out, "pass: extension kiln-test/switch-run@0.0.1", "===> GENERATING", "[kiln-test/switch-run] switch-run: generating in /layers/generated/kiln-test_switch-run",
		"===> RUN IMAGE "+switchedRef+" (chosen by extension kiln-test/switch-run@0.0.1)", "pass: kiln-test/app@2.1.0")
	wantNotContains(t, out, "[kiln-test/curl]")
	app := pull(t, ref)
	if !hasBase(t, app, switched) {
		t.Errorf("the app's first layers are not the switched run image's")
	}
	cfg, err := app.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	var md labels.Lifecycle
	if ok, err := labels.Decode(cfg, labels.LifecycleMetadata, &md); !ok || err != nil {
		t.Fatalf("lifecycle label: %v %v", ok, err)
	}
	sd, _ := switched.Digest()
	if md.RunImage.Image != switchedRef || md.RunImage.Reference != env.reg.Host+"/kiln-test/some-run-image@"+sd.String() {
		t.Errorf("runImage %+v, want %s at %s", md.RunImage, switchedRef, sd)
	}
	if v := cfg.Config.Labels["io.kiln.test.variant"]; v != "switched" {
		t.Errorf("the run image's label io.kiln.test.variant = %q", v)
	}
	wantContains(t, mustKiln(t, "run", ref), "app says: web")
	wantContains(t, mustKiln(t, "run", "--entrypoint", "/cnb/lifecycle/launcher", ref, "--", "cat", "/etc/kiln-patch"), "switched by an extension")

	// Rebase follows the recorded (switched) run image's tag.
	newer := patchedRunImage(t, env.runImg, "a newer switched image\n", map[string]string{"io.kiln.test.variant": "switched"})
	pushImage(t, switchedRef, newer)
	mustKiln(t, "rebase", ref, "--publish")
	if !hasBase(t, pull(t, ref), newer) {
		t.Errorf("after the rebase the app is not on the newer push of %s", switchedRef)
	}
	wantContains(t, mustKiln(t, "run", "--entrypoint", "/cnb/lifecycle/launcher", ref, "--", "cat", "/etc/kiln-patch"), "a newer switched image")

	// RUN is refused before any buildpack builds, naming the extension.
	src := appSource(t)
	if err := os.WriteFile(filepath.Join(src, "needs-curl"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := kiln(t, "build", env.reg.Host+"/kiln-test/ext-refused:latest", "--builder", builderRef, "--path", src, "--publish")
	if r.code != 92 {
		t.Errorf("a RUN in run.Dockerfile: exit %d, want 92\n%s", r.code, r.out)
	}
	wantContains(t, r.out, "pass: extension kiln-test/curl@0.0.1",
		"extension kiln-test/curl@0.0.1: its run.Dockerfile asks for USER (line 3), RUN (line 4)",
		"kiln does not apply Dockerfile instructions")
	wantNotContains(t, r.out, "===> BUILDING", "app: RUNTIME_AT_BUILD")
}

// hasBase says whether img's first layers are base's.
func hasBase(t *testing.T, img, base v1.Image) bool {
	t.Helper()
	digests := func(i v1.Image) []string {
		m, err := i.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, l := range m.Layers {
			out = append(out, l.Digest.String())
		}
		return out
	}
	have, want := digests(img), digests(base)
	if len(have) < len(want) {
		return false
	}
	return cmp.Diff(want, have[:len(want)]) == ""
}
