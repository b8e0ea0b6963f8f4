package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/internal/testutil"
	"github.com/kiln-build/kiln/lifecycle/create"
	"github.com/kiln-build/kiln/lifecycle/imageio"
)

// TestWriteReportTOML: report.toml is Platform API 0.15's: [image] with
// every tag, the digest and the manifest size; no [build] table (the
// reference lifecycle writes none since Platform API 0.9).
func TestWriteReportTOML(t *testing.T) {
	img := testutil.RandomImage(t, 16, 1)
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	res := &create.Result{Image: img, Digest: d, Output: imageio.Location{Kind: imageio.Registry, Name: "reg.example/app:latest"}}
	dir := filepath.Join(t.TempDir(), "out")
	if err := writeReportTOML(dir, res, []string{"reg.example/app:v1"}); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	md, err := toml.DecodeFile(filepath.Join(dir, "report.toml"), &got)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"image": map[string]any{
		"tags":          []any{"reg.example/app:latest", "reg.example/app:v1"},
		"digest":        d.String(),
		"manifest-size": int64(len(raw)),
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("report.toml (-want +got):\n%s", diff)
	}
	if md.IsDefined("build") {
		t.Error("report.toml has a [build] table")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%s holds %d entries, want report.toml alone", dir, len(entries))
	}
}
