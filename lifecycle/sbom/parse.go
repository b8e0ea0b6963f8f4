package sbom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/kiln-build/kiln/internal/bom"
)

// parse reads the components of an SBOM file, by its extension.
func parse(f file) ([]bom.Component, error) {
	var comps []bom.Component
	var err error
	switch extOf(f.name) {
	case "cdx.json":
		comps, err = parseCycloneDX(f.data)
	case "spdx.json":
		comps, err = parseSPDX(f.data)
	default:
		err = fmt.Errorf("unknown format")
	}
	if err != nil {
		return nil, fmt.Errorf("SBOM file %s: %w", f.name, err)
	}
	return comps, nil
}

// parseCycloneDX reads a CycloneDX JSON document's components, nested
// ones included.
func parseCycloneDX(data []byte) ([]bom.Component, error) {
	var doc cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(data), cdx.BOMFileFormatJSON).Decode(&doc); err != nil {
		return nil, fmt.Errorf("decoding CycloneDX JSON: %w", err)
	}
	if doc.BOMFormat != "CycloneDX" {
		return nil, fmt.Errorf("bomFormat is %q, want CycloneDX", doc.BOMFormat)
	}
	var out []bom.Component
	var walk func(cs *[]cdx.Component) error
	walk = func(cs *[]cdx.Component) error {
		if cs == nil {
			return nil
		}
		for _, c := range *cs {
			if len(out) >= bom.MaxComponents {
				return fmt.Errorf("more than %d components", bom.MaxComponents)
			}
			if strings.TrimSpace(c.Name) == "" {
				return fmt.Errorf("component %d has no name", len(out)+1)
			}
			out = append(out, fromCDX(c))
			if err := walk(c.Components); err != nil {
				return err
			}
		}
		return nil
	}
	return out, walk(doc.Components)
}

func fromCDX(c cdx.Component) bom.Component {
	b := bom.Component{Type: string(c.Type), Name: c.Name, Version: c.Version, PURL: c.PackageURL}
	if !validTypes[b.Type] {
		b.Type = bom.TypeLibrary
	}
	if c.Group != "" && !strings.HasPrefix(c.PackageURL, "pkg:") {
		b.Name = c.Group + "/" + c.Name
	}
	if c.Licenses != nil {
		for _, l := range *c.Licenses {
			switch {
			case l.Expression != "":
				b.Licenses = append(b.Licenses, l.Expression)
			case l.License != nil && l.License.ID != "":
				b.Licenses = append(b.Licenses, l.License.ID)
			case l.License != nil && l.License.Name != "":
				b.Licenses = append(b.Licenses, l.License.Name)
			}
		}
	}
	if c.Properties != nil {
		for _, p := range *c.Properties {
			b.Properties = append(b.Properties, bom.Property{Name: p.Name, Value: p.Value})
		}
	}
	return b
}

// validTypes are the component types of CycloneDX 1.5.
var validTypes = map[string]bool{}

func init() {
	for _, t := range []string{"application", "framework", "library", "container", "platform", "operating-system",
		"device", "device-driver", "firmware", "file", "machine-learning-model", "data"} {
		validTypes[t] = true
	}
}

// The subset of SPDX 2.x JSON read.
type spdxDoc struct {
	SPDXVersion   string         `json:"spdxVersion"`
	Packages      []spdxPackage  `json:"packages"`
	Relationships []spdxRelation `json:"relationships"`
}

type spdxPackage struct {
	ID              string `json:"SPDXID"`
	Name            string `json:"name"`
	Version         string `json:"versionInfo"`
	LicenseDeclared string `json:"licenseDeclared"`
	Purpose         string `json:"primaryPackagePurpose"`
	ExternalRefs    []struct {
		Type    string `json:"referenceType"`
		Locator string `json:"referenceLocator"`
	} `json:"externalRefs"`
}

type spdxRelation struct {
	A    string `json:"spdxElementId"`
	B    string `json:"relatedSpdxElement"`
	Type string `json:"relationshipType"`
}

// parseSPDX reads an SPDX JSON document's packages, less those the
// document DESCRIBES (its subject).
func parseSPDX(data []byte) ([]bom.Component, error) {
	var doc spdxDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("decoding SPDX JSON: %w", err)
	}
	if !strings.HasPrefix(doc.SPDXVersion, "SPDX-2.") {
		return nil, fmt.Errorf("spdxVersion is %q, want SPDX-2.x", doc.SPDXVersion)
	}
	if len(doc.Packages) > bom.MaxComponents {
		return nil, fmt.Errorf("more than %d packages", bom.MaxComponents)
	}
	subject := map[string]bool{}
	for _, r := range doc.Relationships {
		if r.A == "SPDXRef-DOCUMENT" && r.Type == "DESCRIBES" {
			subject[r.B] = true
		}
	}
	var out []bom.Component
	for i, p := range doc.Packages {
		if subject[p.ID] {
			continue
		}
		if strings.TrimSpace(p.Name) == "" {
			return nil, fmt.Errorf("package %d (%s) has no name", i+1, p.ID)
		}
		c := bom.Component{Name: p.Name, Version: p.Version, Type: cdxType(p.Purpose)}
		if l := p.LicenseDeclared; l != "" && l != "NOASSERTION" && l != "NONE" {
			c.Licenses = []string{l}
		}
		for _, r := range p.ExternalRefs {
			if r.Type == "purl" && c.PURL == "" {
				c.PURL = r.Locator
			}
		}
		out = append(out, c)
	}
	return out, nil
}

func cdxType(purpose string) string {
	switch purpose {
	case "APPLICATION":
		return bom.TypeApplication
	case "FRAMEWORK":
		return bom.TypeFramework
	case "CONTAINER":
		return bom.TypeContainer
	case "OPERATING-SYSTEM":
		return bom.TypeOS
	}
	return bom.TypeLibrary
}
