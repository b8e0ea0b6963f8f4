package bom

import (
	"cmp"
	"crypto/sha256"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Component types, as CycloneDX names them.
const (
	TypeLibrary     = "library"
	TypeApplication = "application"
	TypeFramework   = "framework"
	TypeContainer   = "container"
	TypeOS          = "operating-system"
)

// Component is one package a document lists.
type Component struct {
	// Type is one of the Type constants; empty means TypeLibrary.
	Type    string
	Name    string
	Version string
	// PURL is the package URL, or empty.
	PURL string
	// Licenses are SPDX licence expressions or free-text licence names,
	// as the package's metadata gives them.
	Licenses []string
	// Properties are name/value facts (CycloneDX properties; SPDX
	// package comment lines).
	Properties []Property
	// BOMRef names the component inside the document; empty means the
	// package URL, or name@version. Document makes the references unique.
	BOMRef string
}

// Property is one name/value fact about a component.
type Property struct{ Name, Value string }

// Document is the subject (what the document describes) and its parts.
type Document struct {
	Subject    Component
	Components []Component
	// Created is the document's timestamp.
	Created time.Time
	// Namespace prefixes the SPDX document namespace; empty means
	// DefaultNamespace.
	Namespace string
}

// DefaultNamespace is the prefix of the SPDX document namespaces kiln
// writes; the document's content hash follows it.
const DefaultNamespace = "https://github.com/kiln-build/kiln/spdx/"

// fixedTime is the timestamp of documents when SOURCE_DATE_EPOCH is unset,
// the same as the fixed time of kiln's image layers.
var fixedTime = time.Date(1980, 1, 1, 0, 0, 1, 0, time.UTC)

// Created returns the document time: SOURCE_DATE_EPOCH (seconds since
// the Unix epoch) when getenv has a valid one, else 1980-01-01T00:00:01Z.
func Created(getenv func(string) string) time.Time {
	if getenv != nil {
		if s := strings.TrimSpace(getenv("SOURCE_DATE_EPOCH")); s != "" {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
				return time.Unix(n, 0).UTC()
			}
		}
	}
	return fixedTime
}

// MaxComponents bounds the components of one document.
const MaxComponents = 1_000_000

// normalize returns the components sorted, exact duplicates dropped and
// each with a unique BOMRef, and checks them.
func (d Document) normalize() ([]Component, error) {
	if d.Subject.Name == "" {
		return nil, fmt.Errorf("writing SBOM: the subject has no name")
	}
	if len(d.Components) > MaxComponents {
		return nil, fmt.Errorf("writing SBOM: %d components, more than %d", len(d.Components), MaxComponents)
	}
	cs := make([]Component, 0, len(d.Components))
	for i, c := range d.Components {
		if c.Name == "" {
			return nil, fmt.Errorf("writing SBOM: component %d (%s) has no name", i+1, c.PURL)
		}
		c.Type = cmp.Or(c.Type, TypeLibrary)
		c.Licenses = slices.Clone(c.Licenses)
		slices.Sort(c.Licenses)
		c.Licenses = slices.Compact(c.Licenses)
		c.Properties = slices.Clone(c.Properties)
		slices.SortStableFunc(c.Properties, func(a, b Property) int { return cmp.Compare(a.Name, b.Name) })
		c.BOMRef = cmp.Or(c.BOMRef, c.PURL, c.Name+"@"+c.Version)
		cs = append(cs, c)
	}
	slices.SortFunc(cs, compareComponents)
	cs = slices.CompactFunc(cs, func(a, b Component) bool { return compareComponents(a, b) == 0 })
	// a renamed duplicate must not take a reference another component
	// has (a package URL may itself end in "#2")
	taken := map[string]bool{}
	for _, c := range cs {
		taken[c.BOMRef] = true
	}
	first := map[string]bool{}
	for i := range cs {
		ref := cs[i].BOMRef
		if !first[ref] {
			first[ref] = true
			continue
		}
		n := 2
		for taken[fmt.Sprintf("%s#%d", ref, n)] {
			n++
		}
		cs[i].BOMRef = fmt.Sprintf("%s#%d", ref, n)
		taken[cs[i].BOMRef] = true
	}
	return cs, nil
}

func compareComponents(a, b Component) int {
	return cmp.Or(
		cmp.Compare(a.Name, b.Name),
		cmp.Compare(a.Version, b.Version),
		cmp.Compare(a.PURL, b.PURL),
		cmp.Compare(a.BOMRef, b.BOMRef),
		cmp.Compare(a.Type, b.Type),
		slices.Compare(a.Licenses, b.Licenses),
		slices.CompareFunc(a.Properties, b.Properties, func(x, y Property) int {
			return cmp.Or(cmp.Compare(x.Name, y.Name), cmp.Compare(x.Value, y.Value))
		}),
	)
}

// contentUUID is a name-based (version 5 layout) UUID from data's SHA-256.
func contentUUID(data []byte) string {
	s := sha256.Sum256(data)
	s[6] = s[6]&0x0f | 0x50
	s[8] = s[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", s[0:4], s[4:6], s[6:8], s[8:10], s[10:16])
}
