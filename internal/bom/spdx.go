package bom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/spdx/tools-golang/spdx/v2/common"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"
)

// MediaTypeSPDX is the media type of SPDX JSON documents.
const MediaTypeSPDX = "application/spdx+json"

const noAssertion = "NOASSERTION"

// SPDX returns the document as SPDX 2.3 JSON: one package for the
// subject, which the document describes and which contains one package
// per component.
func (d Document) SPDX() ([]byte, error) {
	cs, err := d.normalize()
	if err != nil {
		return nil, err
	}
	root := spdxPackage(d.Subject, "SPDXRef-Subject")
	doc := &spdx.Document{
		SPDXVersion:    spdx.Version,
		DataLicense:    spdx.DataLicense,
		SPDXIdentifier: "DOCUMENT",
		DocumentName:   d.Subject.Name,
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: "kiln"}},
			Created:  d.Created.UTC().Format(time.RFC3339),
		},
		Packages: []*spdx.Package{root},
		Relationships: []*spdx.Relationship{{
			RefA:         common.MakeDocElementID("", "DOCUMENT"),
			RefB:         common.MakeDocElementID("", string(root.PackageSPDXIdentifier)),
			Relationship: common.TypeRelationshipDescribe,
		}},
	}
	for i, c := range cs {
		p := spdxPackage(c, fmt.Sprintf("SPDXRef-Package-%d-%s", i+1, idSafe(c.Name)))
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA:         common.MakeDocElementID("", string(root.PackageSPDXIdentifier)),
			RefB:         common.MakeDocElementID("", string(p.PackageSPDXIdentifier)),
			Relationship: common.TypeRelationshipContains,
		})
	}
	body, err := encodeSPDX(doc)
	if err != nil {
		return nil, err
	}
	ns := d.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	doc.DocumentNamespace = ns + idSafe(d.Subject.Name) + "-" + contentUUID(body)
	return encodeSPDX(doc)
}

func encodeSPDX(doc *spdx.Document) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encoding SPDX SBOM: %w", err)
	}
	return buf.Bytes(), nil
}

var unsafeID = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// idSafe keeps the characters SPDX identifiers allow, at most 64.
func idSafe(s string) string {
	s = strings.Trim(unsafeID.ReplaceAllString(s, "-"), "-")
	if len(s) > 64 {
		s = s[:64]
	}
	if s == "" {
		s = "x"
	}
	return s
}

// idPrefix strips "SPDXRef-": tools-golang adds it when encoding.
func idPrefix(id string) common.ElementID {
	return common.ElementID(strings.TrimPrefix(id, "SPDXRef-"))
}

func spdxPackage(c Component, id string) *spdx.Package {
	p := &spdx.Package{
		PackageName:             c.Name,
		PackageSPDXIdentifier:   idPrefix(id),
		PackageVersion:          c.Version,
		PackageDownloadLocation: noAssertion,
		PackageLicenseConcluded: noAssertion,
		PackageLicenseDeclared:  spdxLicense(c.Licenses),
		PackageCopyrightText:    noAssertion,
		PrimaryPackagePurpose:   spdxPurpose(c.Type),
	}
	if p.PackageLicenseDeclared == noAssertion && len(c.Licenses) > 0 {
		p.PackageLicenseComments = "declared: " + strings.Join(c.Licenses, "; ")
	}
	if c.PURL != "" {
		p.PackageExternalReferences = []*spdx.PackageExternalReference{{
			Category: common.CategoryPackageManager,
			RefType:  common.TypePackageManagerPURL,
			Locator:  c.PURL,
		}}
	}
	var lines []string
	for _, pr := range c.Properties {
		lines = append(lines, pr.Name+"="+pr.Value)
	}
	p.PackageComment = strings.Join(lines, "\n")
	return p
}

// spdxLicense is the declared licence: the licences joined with AND when
// each is a valid SPDX expression, else NOASSERTION.
func spdxLicense(ls []string) string {
	if len(ls) == 0 {
		return noAssertion
	}
	var parts []string
	for _, l := range ls {
		l = strings.TrimSpace(l)
		if !ValidExpression(l) {
			return noAssertion
		}
		if len(ls) > 1 && strings.ContainsAny(l, " ") {
			l = "(" + l + ")"
		}
		parts = append(parts, l)
	}
	return strings.Join(parts, " AND ")
}

func spdxPurpose(t string) string {
	switch t {
	case TypeApplication:
		return "APPLICATION"
	case TypeFramework:
		return "FRAMEWORK"
	case TypeContainer:
		return "CONTAINER"
	case TypeOS:
		return "OPERATING-SYSTEM"
	}
	return "LIBRARY"
}
