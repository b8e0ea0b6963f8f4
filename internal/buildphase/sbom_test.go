package buildphase

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// TestBuildSBOMs: build.sbom.<ext> and the SBOMs of non-launch layers are
// copied to <layers>/sbom/build/<buildpack>/[<layer>/]sbom.<ext>, with
// build.toml's legacy [[bom]] entries in sbom.legacy.json; launch SBOMs
// are not.
func TestBuildSBOMs(t *testing.T) {
	f := newFixture(t)
	// a stale tree (an old build's, or planted) is replaced
	if err := os.MkdirAll(filepath.Join(f.layers, "sbom", "build", "stale"), 0o755); err != nil {
		t.Fatal(err)
	}
	group := f.install(t,
		testBP{id: "kiln/tools", sbomFormats: []string{"application/vnd.cyclonedx+json", "application/spdx+json"}, build: `
L="$CNB_LAYERS_DIR"
echo '{"what":"build"}' > "$L/build.sbom.cdx.json"
echo '{"what":"launch"}' > "$L/launch.sbom.cdx.json"
mkdir "$L/compiler" "$L/runtime" "$L/cached" "$L/none"
printf '[types]\nbuild = true\n' > "$L/compiler.toml"
echo '{"what":"compiler"}' > "$L/compiler.sbom.spdx.json"
printf '[types]\nlaunch = true\nbuild = true\n' > "$L/runtime.toml"
echo '{"what":"runtime"}' > "$L/runtime.sbom.cdx.json"
printf '[types]\ncache = true\n' > "$L/cached.toml"
echo '{"what":"cached"}' > "$L/cached.sbom.cdx.json"
echo '{"what":"no toml"}' > "$L/none.sbom.cdx.json"
printf '[[bom]]\nname = "gcc"\n[bom.metadata]\nversion = "12.2"\n' > "$L/build.toml"
`},
		testBP{id: "kiln/plain", version: "2.0.0", build: `printf '[[bom]]\nname = "make"\n' > "$CNB_LAYERS_DIR/build.toml"` + "\n"},
	)
	var out bytes.Buffer
	if _, err := Run(context.Background(), f.options(group, descriptor.Plan{}, &out)); err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	got := map[string]string{}
	dir := filepath.Join(f.layers, "sbom", "build")
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		got[rel] = strings.TrimSpace(string(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"kiln_tools/sbom.cdx.json":           `{"what":"build"}`,
		"kiln_tools/compiler/sbom.spdx.json": `{"what":"compiler"}`,
		"kiln_tools/cached/sbom.cdx.json":    `{"what":"cached"}`,
		"sbom.legacy.json": `[{"name":"gcc","metadata":{"version":"12.2"},"buildpack":{"id":"kiln/tools","version":"0.0.1"}},` +
			`{"name":"make","metadata":null,"buildpack":{"id":"kiln/plain","version":"2.0.0"}}]`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", dir, diff)
	}
	// the buildpack's own files stay where the exporter looks for launch SBOMs
	if _, err := os.Stat(filepath.Join(f.layers, "kiln_tools", "runtime.sbom.cdx.json")); err != nil {
		t.Errorf("launch layer SBOM: %v", err)
	}
}

// TestBuildSBOMsNone: a build without build SBOMs leaves no tree (and
// removes a stale one).
func TestBuildSBOMsNone(t *testing.T) {
	f := newFixture(t)
	stale := filepath.Join(f.layers, "sbom", "build", "kiln_x", "sbom.cdx.json")
	if err := os.MkdirAll(filepath.Dir(stale), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	group := f.install(t, testBP{id: "kiln/x", build: "true\n"})
	if _, err := Run(context.Background(), f.options(group, descriptor.Plan{}, &bytes.Buffer{})); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.layers, "sbom", "build")); !os.IsNotExist(err) {
		t.Errorf("sbom/build after a build without build SBOMs: %v", err)
	}
}

func TestBuildSBOMErrors(t *testing.T) {
	tests := []struct {
		name, build, want, file string
	}{
		{
			name:  "layer named ..",
			build: `printf '[types]\nbuild = true\n' > "$CNB_LAYERS_DIR/...toml"; echo '{}' > "$CNB_LAYERS_DIR/...sbom.cdx.json"`,
			want:  `".." cannot name a layer`, file: "...toml",
		},
		{
			name:  "legacy bom with a top-level version",
			build: `printf '[[bom]]\nname = "gcc"\nversion = "12"\n' > "$CNB_LAYERS_DIR/build.toml"`,
			want:  "top-level version", file: "build.toml",
		},
		{
			name:  "build SBOM is a link",
			build: `ln -s /etc/passwd "$CNB_LAYERS_DIR/build.sbom.cdx.json"`,
			want:  "is a symbolic link", file: "build.sbom.cdx.json",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			group := f.install(t, testBP{id: "kiln/bad", sbomFormats: []string{"application/vnd.cyclonedx+json"}, build: tt.build + "\n"})
			_, err := Run(context.Background(), f.options(group, descriptor.Plan{}, &bytes.Buffer{}))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), filepath.Join(f.layers, "kiln_bad", tt.file)) {
				t.Errorf("err = %v, want one saying %q and naming %s", err, tt.want, tt.file)
			}
			if _, err := os.Stat(filepath.Join(f.layers, "sbom", "build")); err == nil {
				t.Error("a failed build left build SBOMs")
			}
		})
	}
}
