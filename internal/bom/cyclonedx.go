package bom

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/github/go-spdx/v2/spdxexp"
)

// MediaTypeCycloneDX is the media type of CycloneDX JSON documents.
const MediaTypeCycloneDX = "application/vnd.cyclonedx+json"

// CycloneDX returns the document as CycloneDX 1.5 JSON.
func (d Document) CycloneDX() ([]byte, error) {
	cs, err := d.normalize()
	if err != nil {
		return nil, err
	}
	bom := cdx.NewBOM()
	bom.JSONSchema = ""
	subject := cdxComponent(d.Subject)
	subject.BOMRef = ""
	tools := []cdx.Component{{Type: cdx.ComponentTypeApplication, Name: "kiln"}}
	bom.Metadata = &cdx.Metadata{
		Timestamp: d.Created.UTC().Format(time.RFC3339),
		Tools:     &cdx.ToolsChoice{Components: &tools},
		Component: &subject,
	}
	list := make([]cdx.Component, 0, len(cs))
	for _, c := range cs {
		list = append(list, cdxComponent(c))
	}
	bom.Components = &list
	// the serial number is derived from everything else
	body, err := encodeCDX(bom)
	if err != nil {
		return nil, err
	}
	bom.SerialNumber = "urn:uuid:" + contentUUID(body)
	return encodeCDX(bom)
}

func encodeCDX(bom *cdx.BOM) ([]byte, error) {
	var buf bytes.Buffer
	enc := cdx.NewBOMEncoder(&buf, cdx.BOMFileFormatJSON).SetPretty(true).SetEscapeHTML(false)
	if err := enc.EncodeVersion(bom, cdx.SpecVersion1_5); err != nil {
		return nil, fmt.Errorf("encoding CycloneDX SBOM: %w", err)
	}
	return buf.Bytes(), nil
}

func cdxComponent(c Component) cdx.Component {
	out := cdx.Component{
		BOMRef:     c.BOMRef,
		Type:       cdx.ComponentType(c.Type),
		Name:       c.Name,
		Version:    c.Version,
		PackageURL: c.PURL,
	}
	if out.Type == "" {
		out.Type = cdx.ComponentTypeLibrary
	}
	if ls := cdxLicenses(c.Licenses); len(ls) > 0 {
		out.Licenses = &ls
	}
	if len(c.Properties) > 0 {
		ps := make([]cdx.Property, 0, len(c.Properties))
		for _, p := range c.Properties {
			ps = append(ps, cdx.Property{Name: p.Name, Value: p.Value})
		}
		out.Properties = &ps
	}
	return out
}

// cdxLicenses turns licence strings into CycloneDX licences: a known SPDX
// licence id as an id, a lone valid compound expression as an expression
// (CycloneDX allows an expression only on its own), anything else as a
// name.
func cdxLicenses(ls []string) cdx.Licenses {
	var out cdx.Licenses
	for _, l := range ls {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if ok, id := spdxexp.ActiveLicense(l); ok {
			out = append(out, cdx.LicenseChoice{License: &cdx.License{ID: id}})
			continue
		}
		if len(ls) == 1 && ValidExpression(l) {
			return cdx.Licenses{{Expression: l}}
		}
		out = append(out, cdx.LicenseChoice{License: &cdx.License{Name: l}})
	}
	return out
}

// ValidExpression reports whether s is a valid SPDX licence expression.
func ValidExpression(s string) bool {
	if strings.TrimSpace(s) == "" || len(s) > 1024 {
		return false
	}
	ok, _ := spdxexp.ValidateLicenses([]string{s})
	return ok
}
