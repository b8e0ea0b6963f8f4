package sbom

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/kiln-build/kiln/internal/bom"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// entry is one tar entry of a test layer.
type entry struct {
	name string
	typ  byte
	data []byte
	size int64 // when data is nil and size > 0: that many zero bytes
	link string
}

func layer(t testing.TB, entries ...entry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Linkname: e.link, ModTime: time.Unix(0, 0)}
		if e.typ == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.data))
			if e.data == nil {
				h.Size = e.size
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.data != nil {
			tw.Write(e.data)
		} else if e.size > 0 {
			io.CopyN(tw, zeros{}, e.size)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func diffID(t testing.TB, l v1.Layer) string {
	h, err := l.DiffID()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func doc(t testing.TB, d bom.Document, spdx bool) []byte {
	t.Helper()
	var b []byte
	var err error
	if spdx {
		b, err = d.SPDX()
	} else {
		b, err = d.CycloneDX()
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// image is an app image with a run image SBOM layer, the app's SBOM layer
// and one launch layer per buildpack; sbomEntries replaces the app SBOM
// layer's contents when not nil.
type fixture struct {
	img                           v1.Image
	base, sbomLayer, app, modules string
}

func newFixture(t testing.TB, sbomEntries []entry) fixture {
	t.Helper()
	runDoc := doc(t, bom.Document{Subject: bom.Component{Name: "stack", Type: bom.TypeContainer}, Components: []bom.Component{
		{Name: "libc6", Version: "2.36-9", PURL: "pkg:deb/debian/libc6@2.36-9?arch=amd64", Properties: []bom.Property{{Name: "kiln:deb:architecture", Value: "amd64"}}},
	}}, false)
	base := layer(t, entry{name: "cnb/", typ: tar.TypeDir}, entry{name: "cnb/sbom/", typ: tar.TypeDir}, entry{name: "cnb/sbom/bom.cdx.json", data: runDoc})
	appL := layer(t, entry{name: "layers/kiln_go/app/bin/web", data: []byte("binary")})
	modL := layer(t, entry{name: "layers/kiln_nodejs/modules/node_modules/x", data: []byte("x")})
	goDoc := bom.Document{Subject: bom.Component{Name: "kiln/go:app"}, Components: []bom.Component{
		{Name: "github.com/julienschmidt/httprouter", Version: "v1.3.0", PURL: bom.GoPURL("github.com/julienschmidt/httprouter", "v1.3.0")},
		{Name: "stdlib", Version: "go1.26.8", Type: bom.TypeFramework},
	}}
	nodeDoc := bom.Document{Subject: bom.Component{Name: "kiln/nodejs:modules"}, Components: []bom.Component{
		{Name: "@scope/pkg", Version: "1.0.0", PURL: bom.NPMPURL("@scope/pkg", "1.0.0"), Licenses: []string{"MIT"}},
	}}
	if sbomEntries == nil {
		sbomEntries = []entry{
			{name: "layers/", typ: tar.TypeDir},
			{name: "layers/sbom/", typ: tar.TypeDir},
			{name: "layers/sbom/launch/kiln_go/app/sbom.cdx.json", data: doc(t, goDoc, false)},
			{name: "layers/sbom/launch/kiln_go/app/sbom.spdx.json", data: doc(t, goDoc, true)},
			{name: "layers/sbom/launch/kiln_go/app/sbom.syft.json", data: []byte("{}")},
			// SPDX only: read from SPDX
			{name: "layers/sbom/launch/kiln_nodejs/modules/sbom.spdx.json", data: doc(t, nodeDoc, true)},
		}
	}
	sbomL := layer(t, sbomEntries...)
	img, err := mutate.AppendLayers(empty.Image, base, appL, modL, sbomL)
	if err != nil {
		t.Fatal(err)
	}
	f := fixture{base: diffID(t, base), sbomLayer: diffID(t, sbomL), app: diffID(t, appL), modules: diffID(t, modL)}
	md, err := labels.Encode(labels.Lifecycle{
		SBOM: &labels.LayerSHA{SHA: f.sbomLayer},
		Buildpacks: []labels.BuildpackEntry{
			{Key: "kiln/go", Layers: map[string]labels.LayerMetadata{"app": {SHA: f.app, Launch: true}}},
			{Key: "kiln/nodejs", Layers: map[string]labels.LayerMetadata{"modules": {SHA: f.modules, Launch: true}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := img.ConfigFile()
	cfg = cfg.DeepCopy()
	cfg.Created = v1.Time{Time: time.Date(1980, 1, 1, 0, 0, 1, 0, time.UTC)}
	cfg.Config.Labels = map[string]string{labels.LifecycleMetadata: md, LabelBaseSBOM: f.base}
	if f.img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestRead(t *testing.T) {
	f := newFixture(t, nil)
	b, err := Read(context.Background(), f.img)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range b.Components {
		props := map[string]string{}
		for _, p := range c.Properties {
			props[p.Name] = p.Value
		}
		got = append(got, strings.Join([]string{c.Name, c.Version, c.PURL, props[PropSource], props[PropLayer], props[PropBuildpack], props[PropBuildpackLayer], props[PropFile], strings.Join(c.Licenses, ",")}, " | "))
	}
	want := []string{
		"libc6 | 2.36-9 | pkg:deb/debian/libc6@2.36-9?arch=amd64 | run-image | " + f.base + " |  |  | cnb/sbom/bom.cdx.json | ",
		"github.com/julienschmidt/httprouter | v1.3.0 | pkg:golang/github.com/julienschmidt/httprouter@v1.3.0 | buildpack | " + f.app + " | kiln/go | app | layers/sbom/launch/kiln_go/app/sbom.cdx.json | ",
		"stdlib | go1.26.8 |  | buildpack | " + f.app + " | kiln/go | app | layers/sbom/launch/kiln_go/app/sbom.cdx.json | ",
		"@scope/pkg | 1.0.0 | pkg:npm/%40scope/pkg@1.0.0 | buildpack | " + f.modules + " | kiln/nodejs | modules | layers/sbom/launch/kiln_nodejs/modules/sbom.spdx.json | MIT",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("components (-want +got):\n%s", diff)
	}

	b.Name = "registry.example/team/app:latest"
	cdx1, err := b.CycloneDX()
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := Read(context.Background(), f.img)
	b2.Name = b.Name
	cdx2, _ := b2.CycloneDX()
	if !bytes.Equal(cdx1, cdx2) {
		t.Error("the same image gives other CycloneDX bytes")
	}
	validateSchema(t, filepath.Join("..", "..", "acceptance", "testdata", "cyclonedx"), "http://cyclonedx.org/schema/", "bom-1.5.schema.json", cdx1,
		"spdx.schema.json", "jsf-0.82.schema.json")
	spdx, err := b.SPDX()
	if err != nil {
		t.Fatal(err)
	}
	validateSchema(t, filepath.Join("..", "..", "acceptance", "testdata", "spdx"), "http://spdx.org/rdf/terms/", "spdx-schema.json", spdx)
	var meta struct {
		Metadata struct {
			Component struct{ Name, Version, Purl string }
		}
	}
	json.Unmarshal(cdx1, &meta)
	digest, _ := f.img.Digest()
	if c := meta.Metadata.Component; c.Name != b.Name || c.Version != digest.String() || !strings.HasPrefix(c.Purl, "pkg:oci/app@sha256") {
		t.Errorf("metadata component %+v", c)
	}
}

func validateSchema(t *testing.T, dir, base, main string, data []byte, more ...string) {
	t.Helper()
	c := jsonschema.NewCompiler()
	for _, f := range append([]string{main}, more...) {
		r, err := os.Open(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		d, err := jsonschema.UnmarshalJSON(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.AddResource(base+f, d); err != nil {
			t.Fatal(err)
		}
	}
	s, err := c.Compile(base + main)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(inst); err != nil {
		t.Errorf("%s: %v", main, err)
	}
}

func TestReadHostile(t *testing.T) {
	ok := []byte(`{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"components":[]}`)
	many := make([]entry, 0, MaxEntries+1)
	for i := 0; i <= MaxEntries; i++ {
		many = append(many, entry{name: "layers/sbom/launch/d" + strings.Repeat("x", i%7) + "/", typ: tar.TypeDir})
	}
	for _, tc := range []struct {
		name    string
		entries []entry
		want    string
	}{
		{"symlink", []entry{{name: "layers/sbom/launch/kiln_go/app/sbom.cdx.json", typ: tar.TypeSymlink, link: "/etc/passwd"}}, "not a regular file"},
		{"hard link", []entry{{name: "layers/sbom/launch/kiln_go/app/sbom.cdx.json", typ: tar.TypeLink, link: "etc/passwd"}}, "not a regular file"},
		{"huge file", []entry{{name: "layers/sbom/launch/kiln_go/app/sbom.cdx.json", size: MaxDocument + 1}}, "more than 64 MiB"},
		{"outside", []entry{{name: "etc/passwd", data: []byte("root")}}, "etc/passwd is not under <layers>/sbom/launch"},
		{"climbing", []entry{{name: "layers/sbom/launch/../../../x/sbom.cdx.json", data: ok}}, "leaves the layer's root"},
		{"wrong name", []entry{{name: "layers/sbom/launch/kiln_go/app/bom.json", data: ok}}, "is not <layers>/sbom/launch/<buildpack>"},
		{"too deep", []entry{{name: "layers/sbom/launch/kiln_go/app/x/sbom.cdx.json", data: ok}}, "is not <layers>/sbom/launch/<buildpack>"},
		{"two roots", []entry{{name: "layers/sbom/launch/kiln_go/app/sbom.cdx.json", data: ok}, {name: "other/sbom/launch/kiln_go/app/sbom.spdx.json", data: ok}}, "like the others"},
		{"nested JSON", []entry{{name: "layers/sbom/launch/kiln_go/app/sbom.cdx.json", data: []byte(strings.Repeat("[", 20000) + strings.Repeat("]", 20000))}}, "kiln_go/app/sbom.cdx.json: decoding CycloneDX JSON"},
		{"not CycloneDX", []entry{{name: "layers/sbom/launch/kiln_go/app/sbom.cdx.json", data: []byte(`{"bomFormat":"SPDX","components":"x"}`)}}, "kiln_go/app/sbom.cdx.json"},
		{"bad SPDX", []entry{{name: "layers/sbom/launch/kiln_go/app/sbom.spdx.json", data: []byte(`{"spdxVersion":"SPDX-3.0"}`)}}, "spdxVersion is \"SPDX-3.0\""},
		{"nameless component", []entry{{name: "layers/sbom/launch/kiln_go/app/sbom.cdx.json", data: []byte(`{"bomFormat":"CycloneDX","components":[{"type":"library"}]}`)}}, "has no name"},
		{"unknown buildpack", []entry{{name: "layers/sbom/launch/evil/app/sbom.cdx.json", data: ok}}, `names buildpack "evil"`},
		{"unknown layer", []entry{{name: "layers/sbom/launch/kiln_go/secret/sbom.cdx.json", data: ok}}, `names layer "secret"`},
		{"too many entries", many, "more than 10000 entries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.entries)
			_, err := Read(context.Background(), f.img)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestReadMissing(t *testing.T) {
	f := newFixture(t, nil)
	cfg, _ := f.img.ConfigFile()
	cfg = cfg.DeepCopy()
	cfg.Config.Labels[LabelBaseSBOM] = "sha256:" + strings.Repeat("0", 64)
	img, _ := mutate.ConfigFile(f.img, cfg)
	if _, err := Read(context.Background(), img); err == nil || !strings.Contains(err.Error(), "is not in the image") {
		t.Errorf("missing run image SBOM layer: err = %v", err)
	}
	cfg.Config.Labels = map[string]string{}
	img, _ = mutate.ConfigFile(f.img, cfg)
	if _, err := Read(context.Background(), img); err == nil || !strings.Contains(err.Error(), "not a CNB app image") {
		t.Errorf("no labels: err = %v", err)
	}
}
