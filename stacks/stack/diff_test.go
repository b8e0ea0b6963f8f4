package stack

import (
	"archive/tar"
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/kiln-build/kiln/stacks/debian"
	"github.com/kiln-build/kiln/stacks/debian/dpkg"
	"github.com/kiln-build/kiln/stacks/sbom"
)

func pkg(name, arch, version string) dpkg.Package {
	return dpkg.Package{Name: name, Architecture: arch, Version: version}
}

func TestDiffPackages(t *testing.T) {
	base := []dpkg.Package{pkg("libc6", "amd64", "2.36-9+deb12u13"), pkg("netbase", "all", "6.4"), pkg("tzdata", "all", "2024a-0+deb12u1")}
	for _, tc := range []struct {
		name     string
		old, new []dpkg.Package
		want     PackageDiff
		lines    []string
	}{{
		name: "same",
		old:  base, new: base,
		want: PackageDiff{},
	}, {
		name: "one package added",
		old:  base[:2], new: base,
		want:  PackageDiff{Added: []dpkg.Package{base[2]}},
		lines: []string{"added      tzdata:all 2024a-0+deb12u1"},
	}, {
		name: "removed, upgraded and downgraded",
		old:  base,
		new:  []dpkg.Package{pkg("libc6", "amd64", "2.36-9+deb12u14"), pkg("tzdata", "all", "2023c-5"), pkg("libc6", "i386", "2.36-9")},
		want: PackageDiff{
			Added:   []dpkg.Package{pkg("libc6", "i386", "2.36-9")},
			Removed: []dpkg.Package{base[1]},
			Changed: []Change{
				{Name: "libc6", Architecture: "amd64", From: "2.36-9+deb12u13", To: "2.36-9+deb12u14", Kind: Upgraded},
				{Name: "tzdata", Architecture: "all", From: "2024a-0+deb12u1", To: "2023c-5", Kind: Downgraded},
			},
		},
		lines: []string{
			"added      libc6:i386 2.36-9",
			"removed    netbase:all 6.4",
			"upgraded   libc6:amd64 2.36-9+deb12u13 -> 2.36-9+deb12u14",
			"downgraded tzdata:all 2024a-0+deb12u1 -> 2023c-5",
		},
	}, {
		name: "epoch and tilde order",
		old:  []dpkg.Package{pkg("a", "all", "9.9"), pkg("b", "all", "1.0")},
		new:  []dpkg.Package{pkg("a", "all", "1:0.1"), pkg("b", "all", "1.0~rc1")},
		want: PackageDiff{Changed: []Change{
			{Name: "a", Architecture: "all", From: "9.9", To: "1:0.1", Kind: Upgraded},
			{Name: "b", Architecture: "all", From: "1.0", To: "1.0~rc1", Kind: Downgraded},
		}},
	}, {
		name: "equal by Debian's order, different strings",
		old:  []dpkg.Package{pkg("a", "all", "1.0")},
		new:  []dpkg.Package{pkg("a", "all", "0:1.0")},
		want: PackageDiff{Changed: []Change{{Name: "a", Architecture: "all", From: "1.0", To: "0:1.0", Kind: Rebuilt}}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := DiffPackages(tc.old, tc.new)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("DiffPackages (-want +got):\n%s", d)
			}
			if got.Empty() != tc.want.Empty() {
				t.Errorf("Empty() = %v", got.Empty())
			}
			if tc.lines != nil {
				if d := cmp.Diff(tc.lines, got.Lines()); d != "" {
					t.Errorf("Lines (-want +got):\n%s", d)
				}
			}
		})
	}
}

func TestImagePackages(t *testing.T) {
	pkgs := []dpkg.Package{pkg("libc6", "amd64", "2.36-9"), pkg("netbase", "all", "6.4")}
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := img.ConfigFile()
	cfg = cfg.DeepCopy()
	cfg.Config.Labels = map[string]string{debian.LabelDistroName: "debian", debian.LabelDistroVersion: "12"}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	// WithSBOM's path: without installed packages recorded, build one
	// from the SBOM layer alone.
	doc, err := sbom.CycloneDX(sbom.Subject{Name: "x", Version: "run", Created: time.Unix(0, 0)}, pkgs)
	if err != nil {
		t.Fatal(err)
	}
	l, err := sbom.Layer(context.Background(), doc, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	withSBOM, err := mutate.AppendLayers(img, l)
	if err != nil {
		t.Fatal(err)
	}
	diffID, _ := l.DiffID()
	cfg, _ = withSBOM.ConfigFile()
	cfg = cfg.DeepCopy()
	cfg.Config.Labels[LabelSBOM] = diffID.String()
	if withSBOM, err = mutate.ConfigFile(withSBOM, cfg); err != nil {
		t.Fatal(err)
	}
	got, err := ImagePackages(withSBOM)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(pkgs, got); d != "" {
		t.Errorf("from the SBOM layer (-want +got):\n%s", d)
	}
	if _, err := ImagePackages(img); err == nil {
		t.Error("an image with no package labels: no error")
	}
}

func TestSBOMDocumentBounds(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := range maxSBOMEntries {
		tw.WriteHeader(&tar.Header{Name: "f" + string(rune('a'+i%26)), Typeflag: tar.TypeReg, Mode: 0o644})
	}
	// The SBOM itself, one entry past the bound: not looked at.
	tw.WriteHeader(&tar.Header{Name: sbom.Path, Typeflag: tar.TypeReg, Mode: 0o644, Size: 2})
	tw.Write([]byte("{}"))
	tw.Close()
	if _, err := sbomDocument(tar.NewReader(&buf)); err == nil {
		t.Error("an SBOM past the first maxSBOMEntries entries: no error")
	}
	buf.Reset()
	tw = tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: sbom.Path, Typeflag: tar.TypeReg, Mode: 0o644, Size: maxSBOMSize + 1})
	if _, err := sbomDocument(tar.NewReader(&buf)); err == nil {
		t.Error("an oversized SBOM: no error")
	}
}

func TestSBOMDocumentNames(t *testing.T) {
	for _, n := range []string{sbom.Path, "./" + sbom.Path, "/" + sbom.Path} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644, Size: 2})
		tw.Write([]byte("{}"))
		tw.Close()
		if b, err := sbomDocument(tar.NewReader(&buf)); err != nil || string(b) != "{}" {
			t.Errorf("%s: got %q, %v", n, b, err)
		}
	}
}
