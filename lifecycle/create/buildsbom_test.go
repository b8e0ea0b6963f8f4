package create

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/sbom"
)

// withBuildSBOMs is the fake build plus the build SBOM tree `kiln phase`
// leaves; extra, when set, changes the tree afterwards (as a hostile build
// could).
func withBuildSBOMs(f *fixture, extra func(dir string) error) {
	f.sb.phases["build"] = func(ctx context.Context, h hostDirs) (int, error) {
		code, err := f.sb.buildOK(ctx, h)
		if err != nil || code != 0 {
			return code, err
		}
		dir := filepath.Join(h.layers, "sbom", "build")
		for p, body := range map[string]string{
			"kiln-test_app/sbom.cdx.json":       `{"build":"env"}`,
			"kiln-test_app/deps/sbom.spdx.json": `{"layer":"deps"}`,
			"sbom.legacy.json":                  `[{"name":"gcc"}]`,
		} {
			writeFile(f.t, filepath.Join(dir, p), body)
		}
		if extra != nil {
			return 0, extra(dir)
		}
		return 0, nil
	}
}

// TestBuildSBOMKept: with KeepBuildSBOM the build SBOMs come back in the
// result, and no layer of the image holds them.
func TestBuildSBOMKept(t *testing.T) {
	f := newFixture(t)
	withBuildSBOMs(f, nil)
	f.o.KeepBuildSBOM = true
	res := f.mustBuild()
	want := []sbom.File{
		{Path: "build/kiln-test_app/deps/sbom.spdx.json", Data: []byte(`{"layer":"deps"}`)},
		{Path: "build/kiln-test_app/sbom.cdx.json", Data: []byte(`{"build":"env"}`)},
		{Path: "build/sbom.legacy.json", Data: []byte(`[{"name":"gcc"}]`)},
	}
	if diff := cmp.Diff(want, res.BuildSBOM); diff != "" {
		t.Errorf("BuildSBOM (-want +got):\n%s", diff)
	}
	layers, err := f.output().Layers()
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("layer %d: %v", i, err)
			}
			b, _ := io.ReadAll(tr)
			if strings.Contains(h.Name, "sbom/build") || strings.Contains(string(b), `"build":"env"`) {
				t.Errorf("layer %d holds %s", i, h.Name)
			}
		}
		rc.Close()
	}
	f.checkClean()

	// not asked for: not read, not in the result
	f.o.KeepBuildSBOM = false
	if res := f.mustBuild(); res.BuildSBOM != nil {
		t.Errorf("BuildSBOM without KeepBuildSBOM: %v", res.BuildSBOM)
	}
}

// TestBuildSBOMHostile: a build SBOM tree with a link in it fails the
// build (nothing is written) rather than being followed.
func TestBuildSBOMHostile(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	writeFile(t, secret, "host secret")
	f := newFixture(t)
	withBuildSBOMs(f, func(dir string) error {
		return os.Symlink(secret, filepath.Join(dir, "kiln-test_app", "sbom.syft.json"))
	})
	f.o.KeepBuildSBOM = true
	_, err := f.run(bg)
	checkFailure(t, err, failure.BuildError, "build", "/layers/sbom/build/kiln-test_app/sbom.syft.json")
	if f.output() != nil {
		t.Error("an image was written")
	}
	f.checkClean()
}
