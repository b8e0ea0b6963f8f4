package bom

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func sample() Document {
	return Document{
		Subject: Component{Type: TypeApplication, Name: "kiln/nodejs:modules", Version: "0.1.0"},
		Components: []Component{
			{Name: "express", Version: "4.21.2", PURL: NPMPURL("express", "4.21.2"), Licenses: []string{"MIT"}},
			{Name: "@babel/core", Version: "7.0.0", PURL: NPMPURL("@babel/core", "7.0.0"), Licenses: []string{"MIT OR Apache-2.0"}},
			{Name: "weird", Version: "1", Licenses: []string{"Some Custom Licence"}, Properties: []Property{{"b", "2"}, {"a", "1"}}},
			{Name: "express", Version: "4.21.2", PURL: NPMPURL("express", "4.21.2"), Licenses: []string{"MIT"}}, // duplicate
		},
		Created: time.Unix(1700000000, 0),
	}
}

func TestReproducible(t *testing.T) {
	d := sample()
	a, err := d.CycloneDX()
	if err != nil {
		t.Fatal(err)
	}
	// the same components in another order give the same bytes
	d2 := sample()
	d2.Components[0], d2.Components[2] = d2.Components[2], d2.Components[0]
	b, err := d2.CycloneDX()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(a), string(b)); diff != "" {
		t.Errorf("CycloneDX differs with the input order:\n%s", diff)
	}
	s1, _ := d.SPDX()
	s2, _ := d2.SPDX()
	if string(s1) != string(s2) {
		t.Error("SPDX differs with the input order")
	}
	// other content, another serial number
	d2.Components = d2.Components[:1]
	c, _ := d2.CycloneDX()
	if serial(t, a) == serial(t, c) {
		t.Error("different documents share a serial number")
	}
}

func serial(t *testing.T, data []byte) string {
	var v struct {
		SerialNumber string `json:"serialNumber"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v.SerialNumber
}

func TestCycloneDXContent(t *testing.T) {
	data, err := sample().CycloneDX()
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		BOMFormat, SpecVersion, SerialNumber string
		Metadata                             struct {
			Timestamp string
			Component struct{ Name string }
		}
		Components []struct {
			Name, Purl string
			Licenses   []map[string]any
			Properties []Property
		}
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	if v.BOMFormat != "CycloneDX" || v.SpecVersion != "1.5" || !strings.HasPrefix(v.SerialNumber, "urn:uuid:") || v.Metadata.Timestamp != "2023-11-14T22:13:20Z" {
		t.Errorf("header: %+v", v)
	}
	var got []string
	for _, c := range v.Components {
		l, _ := json.Marshal(c.Licenses)
		got = append(got, c.Name+" "+c.Purl+" "+string(l))
	}
	want := []string{
		`@babel/core pkg:npm/%40babel/core@7.0.0 [{"expression":"MIT OR Apache-2.0"}]`,
		`express pkg:npm/express@4.21.2 [{"license":{"id":"MIT"}}]`,
		`weird  [{"license":{"name":"Some Custom Licence"}}]`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("components (-want +got):\n%s", diff)
	}
}

func TestSPDXContent(t *testing.T) {
	data, err := sample().SPDX()
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		SPDXVersion       string `json:"spdxVersion"`
		DocumentNamespace string `json:"documentNamespace"`
		Packages          []struct {
			ID              string `json:"SPDXID"`
			Name            string `json:"name"`
			LicenseDeclared string `json:"licenseDeclared"`
			Download        string `json:"downloadLocation"`
		} `json:"packages"`
		Relationships []struct {
			A, B, Type string
		} `json:"relationships"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	if v.SPDXVersion != "SPDX-2.3" || !strings.HasPrefix(v.DocumentNamespace, DefaultNamespace) {
		t.Errorf("header %q %q", v.SPDXVersion, v.DocumentNamespace)
	}
	var got []string
	for _, p := range v.Packages {
		got = append(got, p.ID+" "+p.Name+" "+p.LicenseDeclared+" "+p.Download)
	}
	want := []string{
		"SPDXRef-Subject kiln/nodejs:modules NOASSERTION NOASSERTION",
		"SPDXRef-Package-1-babel-core @babel/core MIT OR Apache-2.0 NOASSERTION",
		"SPDXRef-Package-2-express express MIT NOASSERTION",
		"SPDXRef-Package-3-weird weird NOASSERTION NOASSERTION",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("packages (-want +got):\n%s", diff)
	}
	if len(v.Relationships) != 4 {
		t.Errorf("%d relationships, want 4", len(v.Relationships))
	}
}

func TestPURLs(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{GoPURL("github.com/julienschmidt/httprouter", "v1.3.0"), "pkg:golang/github.com/julienschmidt/httprouter@v1.3.0"},
		{GoPURL("stdlib", "1.26.8"), "pkg:golang/stdlib@1.26.8"},
		{NPMPURL("@types/node", "22.0.0"), "pkg:npm/%40types/node@22.0.0"},
		{NPMPURL("express", "4.21.2"), "pkg:npm/express@4.21.2"},
		{PyPIPURL("Flask_SQLAlchemy", "3.1.1"), "pkg:pypi/flask-sqlalchemy@3.1.1"},
		{PURL("deb", "debian", "libstdc++6", "12.2.0-14", map[string]string{"distro": "debian-12", "arch": "amd64"}),
			"pkg:deb/debian/libstdc%2B%2B6@12.2.0-14?arch=amd64&distro=debian-12"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %s, want %s", tc.got, tc.want)
		}
	}
}

func TestCreated(t *testing.T) {
	env := func(v string) func(string) string { return func(string) string { return v } }
	if got := Created(env("")); !got.Equal(fixedTime) {
		t.Errorf("unset: %v", got)
	}
	if got := Created(env("1700000000")); got.Unix() != 1700000000 {
		t.Errorf("set: %v", got)
	}
	if got := Created(env("junk")); !got.Equal(fixedTime) {
		t.Errorf("junk: %v", got)
	}
}

func TestRefusesNameless(t *testing.T) {
	d := sample()
	d.Components = append(d.Components, Component{Version: "1"})
	if _, err := d.CycloneDX(); err == nil || !strings.Contains(err.Error(), "no name") {
		t.Errorf("err = %v", err)
	}
}

// A duplicate's renamed reference does not take one another component has:
// CycloneDX needs every bom-ref unique, and a package URL read from a
// buildpack's SBOM may end in "#2" itself.
func TestBOMRefsUnique(t *testing.T) {
	d := Document{Subject: Component{Name: "app"}, Components: []Component{
		{Name: "a", PURL: "pkg:npm/a@1", Properties: []Property{{Name: "x", Value: "1"}}},
		{Name: "a", PURL: "pkg:npm/a@1", Properties: []Property{{Name: "x", Value: "2"}}},
		{Name: "b", PURL: "pkg:npm/a@1#2"},
	}}
	cs, err := d.normalize()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range cs {
		if seen[c.BOMRef] {
			t.Errorf("bom-ref %q twice in %+v", c.BOMRef, cs)
		}
		seen[c.BOMRef] = true
	}
}
