package stack

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/kiln-build/kiln/stacks/debian"
	"github.com/kiln-build/kiln/stacks/debian/dpkg"
	"github.com/kiln-build/kiln/stacks/sbom"
)

// baseImage is an image shaped like one debian.Build makes: a layer and
// the labels WithSBOM reads.
func baseImage(t *testing.T, pkgs []dpkg.Package, created time.Time) v1.Image {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	refs := make([]string, len(pkgs))
	for i, p := range pkgs {
		refs[i] = p.String()
	}
	list, err := json.Marshal(refs)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.Created = v1.Time{Time: created}
	cfg.Config.Labels = map[string]string{
		debian.LabelPackages:      string(list),
		debian.LabelDistroName:    "debian",
		debian.LabelDistroVersion: "12",
	}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestWithSBOM(t *testing.T) {
	ctx := context.Background()
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	pkgs := []dpkg.Package{
		{Name: "libc6", Version: "2.36-9+deb12u10", Architecture: "amd64"},
		{Name: "tzdata", Version: "2025a-0+deb12u1", Architecture: "all"},
	}
	base := baseImage(t, pkgs, created)
	img, err := WithSBOM(ctx, base, "io.example.stack", "run")
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 2 {
		t.Fatalf("%d layers, want the base layer and the SBOM layer", len(layers))
	}
	last := layers[1]
	diffID, err := last.DiffID()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Config.Labels[LabelSBOM]; got != diffID.String() {
		t.Errorf("%s = %q, want the SBOM layer's diffID %s", LabelSBOM, got, diffID)
	}
	if cfg.Config.Labels[debian.LabelPackages] == "" {
		t.Error("the package label is gone")
	}
	if h := cfg.History[len(cfg.History)-1]; !h.Created.Time.Equal(created) || !strings.Contains(h.CreatedBy, "SBOM") {
		t.Errorf("SBOM history entry %+v", h)
	}

	doc := fileInLayer(t, last, sbom.Path)
	got, err := sbom.Decode(doc)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(pkgs, got); diff != "" {
		t.Errorf("SBOM packages (-want +got):\n%s", diff)
	}
	if !strings.Contains(string(doc), `"name": "io.example.stack"`) || !strings.Contains(string(doc), "distro=debian-12") {
		t.Errorf("SBOM does not name the stack or the distro:\n%s", doc)
	}

	// Reproducible: the same base gives the same image.
	again, err := WithSBOM(ctx, base, "io.example.stack", "run")
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("digests differ: %s, %s", d1, d2)
	}
}

func TestWithSBOMNotAStackImage(t *testing.T) {
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = WithSBOM(context.Background(), img, "x", "run")
	if err == nil || !strings.Contains(err.Error(), debian.LabelPackages) {
		t.Errorf("WithSBOM of a plain image: %v", err)
	}
}

func fileInLayer(t *testing.T, l v1.Layer, name string) []byte {
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
			t.Fatalf("%s not in layer", name)
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == name {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}

// TestBlame checks that build errors name the stack file and the entry.
func TestBlame(t *testing.T) {
	s := &Stack{Name: "ex", Path: "stacks/ex/stack.toml"}
	exit := &exec.ExitError{}
	tests := []struct {
		table string
		err   error
		want  string
	}{
		{"run", &debian.ToolError{Key: "packages", Value: "nosuch", Err: exit}, `stacks/ex/stack.toml: [run] packages: "nosuch": mmdebstrap failed`},
		{"build", &debian.ToolError{Key: "suite", Value: "bogus", Err: exit}, `stacks/ex/stack.toml: suite: "bogus": mmdebstrap failed`},
		{"build", &debian.ToolError{Key: "sources", Value: "deb http://x y main", Err: exit}, `stacks/ex/stack.toml: sources: "deb http://x y main"`},
		{"run", &debian.ToolError{Err: exit}, "stacks/ex/stack.toml: [run] image: mmdebstrap failed"},
		{"run", errors.New("disk full"), "stacks/ex/stack.toml: [run] image: disk full"},
	}
	for _, tt := range tests {
		got := s.blame(tt.table, tt.err)
		if !strings.HasPrefix(got.Error(), tt.want) {
			t.Errorf("blame(%s, %v) = %q, want prefix %q", tt.table, tt.err, got, tt.want)
		}
		if !errors.Is(got, tt.err) {
			t.Errorf("blame(%v) does not wrap the error", tt.err)
		}
	}
}

// TestBuildNeedsCacheDir checks Build stops before any work without a
// cache directory.
func TestBuildNeedsCacheDir(t *testing.T) {
	s, err := Decode("min", "stack.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Build(context.Background(), s, Options{})
	if err == nil || !strings.Contains(err.Error(), "CacheDir") || !strings.Contains(err.Error(), "stack.toml") {
		t.Errorf("Build without a cache dir: %v", err)
	}
}
