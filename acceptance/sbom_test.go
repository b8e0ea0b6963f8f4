//go:build acceptance

package acceptance

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// cdxDoc is the part of a CycloneDX document the test reads.
type cdxDoc struct {
	SpecVersion string `json:"specVersion"`
	Metadata    struct {
		Component struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"component"`
	} `json:"metadata"`
	Components []cdxComp `json:"components"`
}

type cdxComp struct {
	Name       string `json:"name"`
	Version    string `json:"version"`
	PURL       string `json:"purl"`
	Properties []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"properties"`
}

func (c cdxComp) prop(name string) string {
	for _, p := range c.Properties {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

// TestSBOM builds the Go and Node.js samples with the default builder,
// rebuilds them unchanged (the reused layers keep their SBOMs), and
// checks `kiln sbom`: the Go modules are those `go version -m` reads from
// the binary in the image, the Node.js packages the lockfile's production
// ones, the run image's Debian packages name its SBOM layer, the
// CycloneDX document validates against the CycloneDX 1.5 schema and the
// SPDX one against the SPDX 2.3 schema.
func TestSBOM(t *testing.T) {
	shippedStack(t)
	useKilnBuildpacks(t)
	os.Unsetenv("KILN_BUILDER")
	cdxSchema := compileSchema(t, "testdata/cyclonedx", "bom-1.5.schema.json", "http://cyclonedx.org/schema/",
		"bom-1.5.schema.json", "spdx.schema.json", "jsf-0.82.schema.json")
	spdxSchema := compileSchema(t, "testdata/spdx", "spdx-schema.json", "http://spdx.org/rdf/terms/", "spdx-schema.json")

	for _, tc := range []struct {
		sample, buildpack string
		// want lists "LAYER NAME@VERSION" of each component expected from
		// the buildpack
		want func(t *testing.T, img v1.Image, src, buildLog string) map[string]bool
	}{
		{"go", "kiln/go", wantGoModules},
		{"node", "kiln/nodejs", wantNodePackages},
	} {
		t.Run(tc.sample, func(t *testing.T) {
			src := copySample(t, tc.sample)
			image := "sbom/" + tc.sample
			first := mustKiln(t, "build", image, "--path", src)
			// unchanged: every layer is reused, and the SBOMs are still there
			sbomDir := t.TempDir()
			out := mustKiln(t, "build", image, "--path", src, "--sbom-output-dir", sbomDir)
			wantContains(t, out, "Reusing", "Adding SBOM layer")
			img := storeImage(t, image)
			// --sbom-output-dir and kiln sbom download write the same files,
			// laid out as pack lays them out
			dl := t.TempDir()
			mustKiln(t, "sbom", "download", image, "--output-dir", dl)
			layerDir := map[string]string{"kiln/go": "kiln_go/app", "kiln/nodejs": "kiln_nodejs/modules"}[tc.buildpack]
			for _, ext := range []string{"cdx.json", "spdx.json"} {
				a, errA := os.ReadFile(filepath.Join(sbomDir, "launch", layerDir, "sbom."+ext))
				b, errB := os.ReadFile(filepath.Join(dl, "sbom", "launch", layerDir, "sbom."+ext))
				if errA != nil || errB != nil || len(a) == 0 || string(a) != string(b) {
					t.Errorf("SBOM file launch/%s/sbom.%s: --sbom-output-dir %v, download %v, same bytes %v", layerDir, ext, errA, errB, string(a) == string(b))
				}
			}

			dir := t.TempDir()
			cdxFile, spdxFile := filepath.Join(dir, "bom.cdx.json"), filepath.Join(dir, "bom.spdx.json")
			mustKiln(t, "sbom", image, "--output", cdxFile)
			mustKiln(t, "sbom", image, "--format", "spdx", "--output", spdxFile)
			validate(t, cdxSchema, cdxFile)
			validate(t, spdxSchema, spdxFile)
			checkSPDX(t, spdxFile)

			var doc cdxDoc
			readJSON(t, cdxFile, &doc)
			digest, err := img.Digest()
			if err != nil {
				t.Fatal(err)
			}
			if doc.SpecVersion != "1.5" || doc.Metadata.Component.Version != digest.String() {
				t.Errorf("specVersion %q, subject version %q; want 1.5 and %s", doc.SpecVersion, doc.Metadata.Component.Version, digest)
			}
			checkRunImagePackages(t, img, doc)

			got := map[string]bool{}
			for _, c := range doc.Components {
				if strings.HasPrefix(c.PURL, "pkg:deb/") && c.prop("kiln:source") == "buildpack" {
					continue // a Debian library a buildpack added (libstdc++6 for node)
				}
				if c.prop("kiln:buildpack") == tc.buildpack && c.prop("kiln:source") == "buildpack" {
					got[c.prop("kiln:buildpack-layer")+" "+c.Name+"@"+c.Version] = true
				}
			}
			if diff := cmp.Diff(tc.want(t, img, src, first), got); diff != "" {
				t.Errorf("%s components of kiln sbom (-want +got):\n%s", tc.buildpack, diff)
			}
		})
	}
}

// TestSBOMOtherBuildpacks builds the Python, static and Procfile samples
// and checks that `kiln sbom` lists what their launch layers hold: the
// CPython the build used, kiln's static server, kiln-exec.
func TestSBOMOtherBuildpacks(t *testing.T) {
	shippedStack(t)
	useKilnBuildpacks(t)
	os.Unsetenv("KILN_BUILDER")
	for _, tc := range []struct {
		sample, buildpack, layer, name string
		// versionRE finds the component's version in the build log
		versionRE string
	}{
		{"python", "kiln/python", "python", "cpython", `Using CPython (\S+) from Debian`},
		{"static", "kiln/static", "server", "kiln-static", `===> Kiln Static Site Buildpack (\S+)`},
		{"procfile", "kiln/procfile", "exec", "kiln-exec", `===> Kiln Procfile Buildpack (\S+)`},
	} {
		t.Run(tc.sample, func(t *testing.T) {
			src := copySample(t, tc.sample)
			image := "sbom/" + tc.sample
			out := mustKiln(t, "build", image, "--path", src)
			m := regexp.MustCompile(tc.versionRE).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("the build log lacks %s", tc.versionRE)
			}
			file := filepath.Join(t.TempDir(), "bom.cdx.json")
			mustKiln(t, "sbom", image, "--output", file)
			var doc cdxDoc
			readJSON(t, file, &doc)
			found := false
			for _, c := range doc.Components {
				if c.prop("kiln:buildpack") == tc.buildpack && c.prop("kiln:buildpack-layer") == tc.layer && c.Name == tc.name {
					found = true
					if c.Version != m[1] || c.PURL == "" || !strings.HasPrefix(c.prop("kiln:layer"), "sha256:") {
						t.Errorf("%s: version %q (want %s), purl %q, kiln:layer %q", c.Name, c.Version, m[1], c.PURL, c.prop("kiln:layer"))
					}
				}
			}
			if !found {
				t.Errorf("no %s component from %s:%s in kiln sbom", tc.name, tc.buildpack, tc.layer)
			}
		})
	}
}

// compileSchema compiles main from dir, each file registered under base.
func compileSchema(t *testing.T, dir, main, base string, files ...string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	for _, f := range files {
		r, err := os.Open(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(r)
		r.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := c.AddResource(base+f, doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	s, err := c.Compile(base + main)
	if err != nil {
		t.Fatalf("compiling %s: %v", main, err)
	}
	return s
}

func validate(t *testing.T, s *jsonschema.Schema, file string) {
	t.Helper()
	r, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	doc, err := jsonschema.UnmarshalJSON(r)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if err := s.Validate(doc); err != nil {
		t.Errorf("%s does not validate: %v", filepath.Base(file), err)
	}
}

func readJSON(t *testing.T, file string, v any) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// storeImage opens name from the test's local store.
func storeImage(t *testing.T, name string) v1.Image {
	t.Helper()
	store, err := imageio.OpenStore(os.Getenv("KILN_STORE"))
	if err != nil {
		t.Fatal(err)
	}
	loc, err := imageio.ParseSource(name)
	if err != nil {
		t.Fatal(err)
	}
	img, err := imageio.New(store).Open(context.Background(), loc, false)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// checkSPDX checks an SPDX document's structure: version, every package
// with an SPDXID, a name and a downloadLocation, relationships between
// known elements, one DESCRIBES.
func checkSPDX(t *testing.T, file string) {
	t.Helper()
	var doc struct {
		SPDXVersion string `json:"spdxVersion"`
		Packages    []struct {
			ID       string `json:"SPDXID"`
			Name     string `json:"name"`
			Download string `json:"downloadLocation"`
		} `json:"packages"`
		Relationships []struct {
			A    string `json:"spdxElementId"`
			B    string `json:"relatedSpdxElement"`
			Type string `json:"relationshipType"`
		} `json:"relationships"`
	}
	readJSON(t, file, &doc)
	if doc.SPDXVersion != "SPDX-2.3" {
		t.Errorf("spdxVersion %q", doc.SPDXVersion)
	}
	ids := map[string]bool{"SPDXRef-DOCUMENT": true}
	for _, p := range doc.Packages {
		if p.ID == "" || p.Name == "" || p.Download == "" || ids[p.ID] {
			t.Errorf("package %+v lacks an SPDXID, a name or a downloadLocation, or repeats an SPDXID", p)
		}
		ids[p.ID] = true
	}
	describes := 0
	for _, r := range doc.Relationships {
		if !ids[r.A] || !ids[r.B] {
			t.Errorf("relationship %+v names an unknown element", r)
		}
		if r.A == "SPDXRef-DOCUMENT" && r.Type == "DESCRIBES" {
			describes++
		}
	}
	if describes != 1 || len(doc.Packages) < 10 {
		t.Errorf("%d DESCRIBES relationships and %d packages", describes, len(doc.Packages))
	}
}

// checkRunImagePackages checks that the run image's Debian packages are
// in the document, each naming the run image's SBOM layer.
func checkRunImagePackages(t *testing.T, img v1.Image, doc cdxDoc) {
	t.Helper()
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	baseSBOM := cfg.Config.Labels["io.buildpacks.base.sbom"]
	if baseSBOM == "" {
		t.Fatal("the image has no io.buildpacks.base.sbom label")
	}
	h, err := v1.NewHash(baseSBOM)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := img.LayerByDiffID(h); err != nil {
		t.Fatalf("the run image's SBOM layer %s is not in the app image: %v", baseSBOM, err)
	}
	n := 0
	names := map[string]bool{}
	for _, c := range doc.Components {
		if c.prop("kiln:source") != "run-image" {
			continue
		}
		n++
		names[c.Name] = true
		if !strings.HasPrefix(c.PURL, "pkg:deb/debian/") || c.prop("kiln:layer") != baseSBOM {
			t.Errorf("run image component %s: purl %q, kiln:layer %q (want %s)", c.Name, c.PURL, c.prop("kiln:layer"), baseSBOM)
		}
	}
	if n < 5 || !names["libc6"] || !names["ca-certificates"] {
		t.Errorf("%d run image packages, libc6 %v, ca-certificates %v", n, names["libc6"], names["ca-certificates"])
	}
}

// wantGoModules is what `go version -m` (the host's toolchain) reads from
// the binary in the image's app layer, keyed "app NAME".
func wantGoModules(t *testing.T, img v1.Image, _, _ string) map[string]bool {
	t.Helper()
	bin := extractFile(t, img, "kiln/go", "app", func(name string) bool { return path.Base(path.Dir(name)) == "bin" })
	out, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v\n%s", err, out)
	}
	t.Logf("go version -m:\n%s", out)
	want := map[string]string{}
	lines := strings.Split(string(out), "\n")
	_, goVersion, _ := strings.Cut(lines[0], ": ")
	want["app stdlib"] = strings.TrimSpace(goVersion)
	var last string
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "mod":
			want["app "+f[1]] = f[2]
		case "dep":
			last = f[1]
			want["app "+f[1]] = f[2]
		case "=>":
			if len(f) >= 3 && (strings.HasPrefix(f[1], ".") || strings.HasPrefix(f[1], "/")) {
				want["app "+last] = f[2] // a directory: the module keeps its path
				continue
			}
			delete(want, "app "+last)
			if len(f) >= 3 {
				want["app "+f[1]] = f[2]
			}
		}
	}
	if len(want) < 3 {
		t.Fatalf("go version -m lists too little: %v", want)
	}
	set := map[string]bool{}
	for k, v := range want {
		set[k+"@"+v] = true
	}
	return set
}

// wantNodePackages is node from the node layer and the lockfile's
// production packages from the modules layer.
func wantNodePackages(t *testing.T, _ v1.Image, src, buildLog string) map[string]bool {
	t.Helper()
	var lock struct {
		Packages map[string]struct {
			Name    string `json:"name"`
			Version string `json:"version"`
			Dev     bool   `json:"dev"`
		} `json:"packages"`
	}
	readJSON(t, filepath.Join(src, "package-lock.json"), &lock)
	want := map[string]bool{}
	for p, e := range lock.Packages {
		i := strings.LastIndex(p, "node_modules/")
		if i < 0 || e.Dev {
			continue
		}
		name := e.Name
		if name == "" {
			name = p[i+len("node_modules/"):]
		}
		want["modules "+name+"@"+e.Version] = true
	}
	if len(want) < 10 {
		t.Fatalf("the lockfile has only %d production packages", len(want))
	}
	// the Node.js version the build says it used
	m := regexp.MustCompile(`Using Node\.js (\S+):`).FindStringSubmatch(buildLog)
	if m == nil {
		t.Fatal("the build log does not say which Node.js it used")
	}
	want["node node@"+m[1]] = true
	return want
}

// extractFile writes the first regular file of buildpack bp's layer that
// match accepts to a temp file and returns its path.
func extractFile(t *testing.T, img v1.Image, bp, layer string, match func(string) bool) string {
	t.Helper()
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	var md labels.Lifecycle
	if _, err := labels.Decode(cfg, labels.LifecycleMetadata, &md); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(md.Buildpacks, func(b labels.BuildpackEntry) bool { return b.Key == bp })
	if i < 0 {
		t.Fatalf("no buildpack %s in the image", bp)
	}
	h, err := v1.NewHash(md.Buildpacks[i].Layers[layer].SHA)
	if err != nil {
		t.Fatalf("layer %s of %s: %v", layer, bp, err)
	}
	l, err := img.LayerByDiffID(h)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "extracted")
	found := false
	walkLayer(t, l, func(name string, hdr *tar.Header, tr *tar.Reader) {
		if found || hdr.Typeflag != tar.TypeReg || !match(name) {
			return
		}
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, tr); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, buf.Bytes(), 0o755); err != nil {
			t.Fatal(err)
		}
		found = true
	})
	if !found {
		t.Fatalf("no matching file in layer %s of %s", layer, bp)
	}
	return dst
}
