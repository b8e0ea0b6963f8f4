//go:build acceptance

package acceptance

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// TestPackBuildFlags covers pack build's flags: --tag, --report-output-dir,
// --sbom-output-dir (launch and build SBOMs where pack puts them, the build
// ones in no image layer), --creation-time, --volume (a service binding
// whose secret reaches the buildpack but no layer), --timestamps,
// --verbose, -q, --previous-image and --pull-policy.
func TestPackBuildFlags(t *testing.T) {
	root := t.TempDir()
	const secret = "npm-token-5ecr3t-value"
	files := map[string]string{
		"bp/buildpack.toml": "api = \"0.10\"\n[buildpack]\nid = \"test/binding\"\nversion = \"1.0.0\"\n" +
			"sbom-formats = [\"application/vnd.cyclonedx+json\", \"application/spdx+json\"]\n",
		"bp/bin/detect": "#!/bin/sh\nexit 0\n",
		"bp/bin/build": `#!/bin/sh
set -e
b="$2/bindings/npm"
echo "binding type: $(cat "$b/type"), token of $(wc -c < "$b/token") bytes"
if echo x > "$b/token" 2>/dev/null; then echo "binding is writable"; fi
mkdir -p "$1/web"
printf '[types]\nlaunch = true\n' > "$1/web.toml"
echo hello > "$1/web/hello.txt"
printf '[[processes]]\ntype = "web"\ncommand = ["cat", "%s/web/hello.txt"]\ndefault = true\n' "$1" > "$1/launch.toml"
echo '{"sbom":"web-launch-layer"}' > "$1/web.sbom.cdx.json"
mkdir -p "$1/tools"
printf '[types]\nbuild = true\n' > "$1/tools.toml"
echo '{"sbom":"tools-build-layer"}' > "$1/tools.sbom.spdx.json"
echo '{"sbom":"whole-build"}' > "$1/build.sbom.cdx.json"
printf '[[bom]]\nname = "legacy-bom-entry"\n[bom.metadata]\nversion = "12.2"\n' > "$1/build.toml"
`,
		"binding/type":  "npmrc",
		"binding/token": secret,
	}
	for p, body := range files {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	repo := env.reg.Host + "/kiln-test/flags"
	report, sbomDir := filepath.Join(root, "report"), filepath.Join(root, "sbom")
	out := mustKiln(t, "build", repo+":latest", "--builder", env.builder, "--path", appSource(t), "--publish",
		"--buildpack", filepath.Join(root, "bp"),
		"-t", repo+":v1", "-t", repo+":v2",
		"--report-output-dir", report, "--sbom-output-dir", sbomDir,
		"--creation-time", "1700000000",
		"--volume", filepath.Join(root, "binding")+":/platform/bindings/npm",
		"--timestamps", "--verbose")
	wantContains(t, out, "binding type: npmrc, token of 22 bytes", "phase build took", "Tagged "+repo+":v1", "Tagged "+repo+":v2")
	wantNotContains(t, out, "binding is writable", secret)
	if !regexp.MustCompile(`(?m)^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6} ===> DETECTING$`).MatchString(out) {
		t.Error("--timestamps: the phase lines do not start with the time")
	}
	digest := builtDigest(t, out)
	for _, tag := range []string{"latest", "v1", "v2"} {
		if d, _ := pull(t, repo+":"+tag).Digest(); d.String() != digest {
			t.Errorf("%s:%s is %s, want %s", repo, tag, d, digest)
		}
	}
	var rep struct {
		Image struct {
			Tags         []string `toml:"tags"`
			Digest       string   `toml:"digest"`
			ManifestSize int      `toml:"manifest-size"`
		} `toml:"image"`
	}
	md, err := toml.DecodeFile(filepath.Join(report, "report.toml"), &rep)
	if err != nil {
		t.Fatal(err)
	}
	if md.IsDefined("build") {
		t.Error("report.toml has a [build] table: Platform API 0.15 has none (the legacy build BOM is in build/sbom.legacy.json)")
	}
	raw, _ := pull(t, repo+":latest").RawManifest()
	if rep.Image.Digest != digest || rep.Image.ManifestSize != len(raw) || strings.Join(rep.Image.Tags, ",") != repo+":latest,"+repo+":v1,"+repo+":v2" {
		t.Errorf("report.toml %+v, want digest %s, size %d and the three tags", rep.Image, digest, len(raw))
	}
	img := pull(t, repo+":latest")
	cfg, _ := img.ConfigFile()
	if !cfg.Created.Time.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("created %s, want --creation-time", cfg.Created.Time)
	}
	checkSBOMOutput(t, sbomDir)
	// the binding's secret is in no layer of the image, nor in the cache;
	// nor are the build SBOMs (the launch one is, in the SBOM layer)
	layers, _ := img.Layers()
	launchSBOM := false
	for _, l := range layers {
		walkLayer(t, l, func(name string, h *tar.Header, tr *tar.Reader) {
			b, _ := io.ReadAll(tr)
			if strings.Contains(string(b), secret) || strings.Contains(name, "bindings") {
				t.Errorf("layer entry %s holds the binding", name)
			}
			if strings.Contains(name, "sbom/build") || strings.Contains(name, "sbom.legacy") {
				t.Errorf("layer entry %s is a build SBOM", name)
			}
			for _, build := range []string{"tools-build-layer", "whole-build", "legacy-bom-entry"} {
				if strings.Contains(string(b), build) {
					t.Errorf("layer entry %s holds a build SBOM (%s)", name, build)
				}
			}
			launchSBOM = launchSBOM || strings.Contains(string(b), "web-launch-layer")
		})
	}
	if !launchSBOM {
		t.Error("no image layer holds the launch layer's SBOM")
	}
	filepath.Walk(os.Getenv("KILN_CACHE"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && fi.Size() < 64<<20 {
			if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), secret) {
				t.Errorf("the cache file %s holds the binding's secret", p)
			}
		}
		return nil
	})

	// -q prints the result only; --previous-image reuses another image's layers
	out = mustKiln(t, "build", repo+"-copy:latest", "--builder", env.builder, "--path", appSource(t), "--publish",
		"--buildpack", filepath.Join(root, "bp"), "--volume", filepath.Join(root, "binding")+":/platform/bindings/npm",
		"--previous-image", repo+":v1", "-q")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "Successfully built") {
		t.Errorf("-q printed:\n%s", out)
	}
	out = mustKiln(t, "build", repo+"-copy:latest", "--builder", env.builder, "--path", appSource(t), "--publish",
		"--buildpack", filepath.Join(root, "bp"), "--binding", "npm="+filepath.Join(root, "binding"),
		"--previous-image", repo+":v1")
	wantContains(t, out, "ANALYZED previous image", "binding type: npmrc, token of 22 bytes")

	// bad values are usage errors
	for _, args := range [][]string{
		{"--volume", filepath.Join(root, "binding") + ":/workspace/x"},
		{"--volume", "/nonexistent:/opt/x"},
		{"--creation-time", "yesterday"},
		{"--pull-policy", "sometimes"},
		{"--binding", "npm=" + filepath.Join(root, "bp")}, // no type file
	} {
		r := kiln(t, append([]string{"build", repo + "-bad:latest", "--builder", env.builder, "--path", appSource(t)}, args...)...)
		if r.code != 2 {
			t.Errorf("%v: exit %d, want 2", args, r.code)
		}
	}
	// never: the builder is only in the registry
	r := kiln(t, "build", repo+"-never:latest", "--builder", env.builder, "--path", appSource(t), "--pull-policy", "never")
	if r.code == 0 {
		t.Error("--pull-policy never pulled the builder")
	}
	wantContains(t, r.out, "--pull-policy never")
}

// checkSBOMOutput checks what --sbom-output-dir wrote for the test
// buildpack: its launch layer's SBOM under launch/, its build layer's and
// build SBOMs and its legacy build BOM under build/, as pack lays them out.
func checkSBOMOutput(t *testing.T, dir string) {
	t.Helper()
	got := map[string]string{}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			got[rel] = strings.TrimSpace(string(b))
		}
		return err
	})
	want := map[string]string{
		"launch/test_binding/web/sbom.cdx.json":   `{"sbom":"web-launch-layer"}`,
		"build/test_binding/sbom.cdx.json":        `{"sbom":"whole-build"}`,
		"build/test_binding/tools/sbom.spdx.json": `{"sbom":"tools-build-layer"}`,
		"build/sbom.legacy.json":                  `[{"name":"legacy-bom-entry","metadata":{"version":"12.2"},"buildpack":{"id":"test/binding","version":"1.0.0"}}]`,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("--sbom-output-dir %s = %q, want %q", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok && !strings.HasPrefix(k, "launch/") {
			t.Errorf("--sbom-output-dir wrote %s", k)
		}
	}
}

// TestActionableErrors: a mistyped command, process type or buildpack id
// is a usage error (exit 2) that says what there is.
func TestActionableErrors(t *testing.T) {
	r := kiln(t, "biuld", "x")
	if r.code != 2 {
		t.Errorf("kiln biuld: exit %d, want 2", r.code)
	}
	wantContains(t, r.out, `unknown command "biuld"`, `did you mean "build"?`)

	ref := env.reg.Host + "/kiln-test/errors:latest"
	mustKiln(t, "build", ref, "--builder", env.builder, "--path", appSource(t), "--publish")
	r = kiln(t, "run", "--process", "wokrer", ref)
	if r.code != 2 {
		t.Errorf("kiln run --process wokrer: exit %d, want 2", r.code)
	}
	wantContains(t, r.out, "--process wokrer: the image has no such process type; it declares web, worker")
	if strings.Count(r.out, "no such process type") != 1 || strings.Contains(r.out, "runc") {
		t.Errorf("the message is not said once, or runc's error shows:\n%s", r.out)
	}

	r = kiln(t, "build", ref, "--builder", env.builder, "--path", appSource(t), "--buildpack", "kiln-test/nope")
	if r.code != 2 {
		t.Errorf("--buildpack kiln-test/nope: exit %d, want 2", r.code)
	}
	wantContains(t, r.out, "the builder has no such buildpack; it has kiln-test/app@2.1.0, kiln-test/optional-fails@0.0.1, kiln-test/runtime@1.0.0")
}
