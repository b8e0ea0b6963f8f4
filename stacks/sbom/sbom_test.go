package sbom

import (
	"archive/tar"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/stacks/debian/dpkg"
)

var (
	created = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	subject = Subject{Name: "io.example.stack", Version: "run", Distro: "debian", DistroVersion: "12", Created: created}
	pkgs    = []dpkg.Package{
		{Name: "tzdata", Version: "2025a-0+deb12u1", Architecture: "all"},
		{Name: "libc6", Version: "2.36-9+deb12u10", Architecture: "amd64"},
		{Name: "libc6", Version: "2.36-9+deb12u10", Architecture: "i386"},
		{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Architecture: "amd64"},
	}
)

func TestPURL(t *testing.T) {
	tests := []struct {
		p                     dpkg.Package
		distro, distroVersion string
		want                  string
	}{
		{pkgs[1], "debian", "12", "pkg:deb/debian/libc6@2.36-9%2Bdeb12u10?arch=amd64&distro=debian-12"},
		{pkgs[3], "debian", "12", "pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64&distro=debian-12"},
		{pkgs[0], "", "", "pkg:deb/debian/tzdata@2025a-0%2Bdeb12u1?arch=all"},
		{dpkg.Package{Name: "libstdc++6", Version: "12.2.0-14", Architecture: "amd64"}, "ubuntu", "24.04", "pkg:deb/ubuntu/libstdc%2B%2B6@12.2.0-14?arch=amd64&distro=ubuntu-24.04"},
	}
	for _, tt := range tests {
		if got := PURL(tt.p, tt.distro, tt.distroVersion); got != tt.want {
			t.Errorf("PURL(%v) = %q, want %q", tt.p, got, tt.want)
		}
	}
}

// TestCycloneDX checks the document's shape and that it reads back to the
// same packages, sorted, whatever the input order.
func TestCycloneDX(t *testing.T) {
	doc, err := CycloneDX(subject, pkgs)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(doc, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["bomFormat"] != "CycloneDX" || raw["specVersion"] != "1.5" {
		t.Errorf("bomFormat %v, specVersion %v", raw["bomFormat"], raw["specVersion"])
	}
	md := raw["metadata"].(map[string]any)
	if md["timestamp"] != "2025-03-04T05:06:07Z" {
		t.Errorf("timestamp %v", md["timestamp"])
	}
	comp := md["component"].(map[string]any)
	if comp["name"] != "io.example.stack" || comp["version"] != "run" || comp["type"] != "container" {
		t.Errorf("metadata.component %v", comp)
	}
	first := raw["components"].([]any)[0].(map[string]any)
	if first["purl"] != "pkg:deb/debian/libc6@2.36-9%2Bdeb12u10?arch=amd64&distro=debian-12" || first["bom-ref"] != first["purl"] {
		t.Errorf("first component %v", first)
	}

	got, err := Decode(doc)
	if err != nil {
		t.Fatal(err)
	}
	want := []dpkg.Package{pkgs[1], pkgs[2], pkgs[0], pkgs[3]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decoded packages (-want +got):\n%s", diff)
	}

	reversed := []dpkg.Package{pkgs[3], pkgs[2], pkgs[1], pkgs[0]}
	again, err := CycloneDX(subject, reversed)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(doc) {
		t.Error("the document depends on the input order")
	}
}

func TestCycloneDXErrors(t *testing.T) {
	for _, p := range []dpkg.Package{
		{Name: "", Version: "1", Architecture: "all"},
		{Name: "a", Version: "", Architecture: "all"},
		{Name: "a", Version: "1", Architecture: ""},
	} {
		if _, err := CycloneDX(subject, []dpkg.Package{p}); err == nil {
			t.Errorf("CycloneDX accepted %+v", p)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"not json", "{", "decoding SBOM"},
		{"other format", `{"bomFormat":"SPDX"}`, `bomFormat is "SPDX"`},
		{"no arch", `{"bomFormat":"CycloneDX","components":[{"name":"a","version":"1","purl":"pkg:deb/debian/a@1"}]}`, "component 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Decode(%s) = %v, want an error with %q", tt.doc, err, tt.want)
			}
		})
	}
	// Components that are not Debian packages are not ours to read.
	got, err := Decode([]byte(`{"bomFormat":"CycloneDX","components":[{"name":"x","purl":"pkg:npm/x@1"}]}`))
	if err != nil || len(got) != 0 {
		t.Errorf("Decode of a non-deb component = %v, %v", got, err)
	}
}

// TestLayer checks the layer's entries, owners, times and that equal
// input gives an equal digest.
func TestLayer(t *testing.T) {
	ctx := context.Background()
	doc, err := CycloneDX(subject, pkgs)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Layer(ctx, doc, created)
	if err != nil {
		t.Fatal(err)
	}
	if mt, err := l.MediaType(); err != nil || mt != types.OCILayer {
		t.Errorf("media type %v, %v", mt, err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	type entry struct {
		Name     string
		Mode     int64
		UID, GID int
		Uname    string
		ModTime  time.Time
		Body     string
	}
	var got []entry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		got = append(got, entry{h.Name, h.Mode, h.Uid, h.Gid, h.Uname, h.ModTime.UTC(), string(b)})
	}
	want := []entry{
		{"cnb/", 0o755, 0, 0, "", created, ""},
		{"cnb/sbom/", 0o755, 0, 0, "", created, ""},
		{"cnb/sbom/bom.cdx.json", 0o644, 0, 0, "", created, string(doc)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("layer entries (-want +got):\n%s", diff)
	}

	l2, err := Layer(ctx, doc, created)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := l.Digest()
	d2, _ := l2.Digest()
	if d1 != d2 {
		t.Errorf("digests differ: %s, %s", d1, d2)
	}
	l3, err := Layer(ctx, doc, created.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if d3, _ := l3.Digest(); d3 == d1 {
		t.Error("a different time gives the same digest")
	}
}

// FuzzDecode reads arbitrary documents: no panics, and whatever is
// accepted survives a round trip.
func FuzzDecode(f *testing.F) {
	doc, err := CycloneDX(subject, pkgs)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(doc)
	f.Add([]byte(`{"bomFormat":"CycloneDX","components":[{"purl":"pkg:deb/x"}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Decode(data)
		if err != nil {
			return
		}
		again, err := CycloneDX(subject, got)
		if err != nil {
			t.Fatalf("re-encoding accepted packages: %v", err)
		}
		back, err := Decode(again)
		if err != nil {
			t.Fatal(err)
		}
		if len(back) != len(got) {
			t.Errorf("round trip: %d packages, then %d", len(got), len(back))
		}
	})
}
