package sbom

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/stacks/debian/dpkg"
)

// Path is where the SBOM document sits in an image (without the leading
// slash, as in a layer tar).
const Path = "cnb/sbom/bom.cdx.json"

// MediaType is the document's media type.
const MediaType = "application/vnd.cyclonedx+json"

// Subject is what the SBOM describes: the image and its distribution.
type Subject struct {
	// Name and Version identify the image, such as the stack id and
	// "build" or "run".
	Name, Version string
	// Distro and DistroVersion are the distribution's id and version as
	// in os-release ("debian", "12"); they go into each package URL.
	Distro, DistroVersion string
	// Created is the document's timestamp (the image's creation time).
	Created time.Time
}

// The subset of CycloneDX 1.5 kiln writes and reads.
type document struct {
	BOMFormat   string      `json:"bomFormat"`
	SpecVersion string      `json:"specVersion"`
	Version     int         `json:"version"`
	Metadata    metadata    `json:"metadata"`
	Components  []component `json:"components"`
}

type metadata struct {
	Timestamp string    `json:"timestamp"`
	Tools     tools     `json:"tools"`
	Component component `json:"component"`
}

type tools struct {
	Components []component `json:"components"`
}

type component struct {
	Type       string     `json:"type"`
	BOMRef     string     `json:"bom-ref,omitempty"`
	Name       string     `json:"name"`
	Version    string     `json:"version,omitempty"`
	PURL       string     `json:"purl,omitempty"`
	Properties []property `json:"properties,omitempty"`
}

type property struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

const (
	bomFormat   = "CycloneDX"
	specVersion = "1.5"
	// archProperty records the Debian architecture of a component.
	archProperty = "kiln:deb:architecture"
)

// CycloneDX returns the JSON SBOM listing pkgs, sorted by name and
// architecture; equal input gives equal bytes.
func CycloneDX(subject Subject, pkgs []dpkg.Package) ([]byte, error) {
	sorted := slices.Clone(pkgs)
	slices.SortFunc(sorted, func(a, b dpkg.Package) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Architecture, b.Architecture)
	})
	doc := document{
		BOMFormat:   bomFormat,
		SpecVersion: specVersion,
		Version:     1,
		Metadata: metadata{
			Timestamp: subject.Created.UTC().Format(time.RFC3339),
			Tools:     tools{Components: []component{{Type: "application", Name: "kiln"}}},
			Component: component{Type: "container", Name: subject.Name, Version: subject.Version},
		},
		Components: make([]component, 0, len(sorted)),
	}
	for _, p := range sorted {
		if p.Name == "" || p.Version == "" || p.Architecture == "" {
			return nil, fmt.Errorf("writing SBOM: package %q has no name, version or architecture", p.String())
		}
		purl := PURL(p, subject.Distro, subject.DistroVersion)
		doc.Components = append(doc.Components, component{
			Type:       "library",
			BOMRef:     purl,
			Name:       p.Name,
			Version:    p.Version,
			PURL:       purl,
			Properties: []property{{Name: archProperty, Value: p.Architecture}},
		})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encoding SBOM: %w", err)
	}
	return buf.Bytes(), nil
}

// Decode reads the packages back from a CycloneDX JSON document written by
// CycloneDX: every component with a pkg:deb package URL.
func Decode(data []byte) ([]dpkg.Package, error) {
	var doc document
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("decoding SBOM: %w", err)
	}
	if doc.BOMFormat != bomFormat {
		return nil, fmt.Errorf("decoding SBOM: bomFormat is %q, want %q", doc.BOMFormat, bomFormat)
	}
	var out []dpkg.Package
	for i, c := range doc.Components {
		if !strings.HasPrefix(c.PURL, "pkg:deb/") {
			continue
		}
		p := dpkg.Package{Name: c.Name, Version: c.Version}
		for _, pr := range c.Properties {
			if pr.Name == archProperty {
				p.Architecture = pr.Value
			}
		}
		if p.Name == "" || p.Version == "" || p.Architecture == "" {
			return nil, fmt.Errorf("decoding SBOM: component %d (%s) lacks a name, version or %s", i+1, c.PURL, archProperty)
		}
		out = append(out, p)
	}
	return out, nil
}

// PURL returns the package URL of a Debian package, as vulnerability
// scanners expect it: pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=debian-12.
func PURL(p dpkg.Package, distro, distroVersion string) string {
	ns := distro
	if ns == "" {
		ns = "debian"
	}
	s := "pkg:deb/" + escape(ns) + "/" + escape(p.Name) + "@" + escape(p.Version) + "?arch=" + escape(p.Architecture)
	if distroVersion != "" {
		s += "&distro=" + escape(ns+"-"+distroVersion)
	}
	return s
}

// escape percent-encodes all but the characters package URLs leave as
// they are (RFC 3986 unreserved).
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// Layer returns a gzip-compressed OCI layer holding doc at Path, with
// directories cnb and cnb/sbom, owned by root, every time set to modTime.
// The layer is built in memory; equal input gives an equal digest.
func Layer(ctx context.Context, doc []byte, modTime time.Time) (v1.Layer, error) {
	t := archive.NewTar(archive.WithModTime(modTime))
	for _, e := range []archive.Entry{
		archive.Dir("cnb", 0o755, archive.Owner{}),
		archive.Dir("cnb/sbom", 0o755, archive.Owner{}),
		archive.File(Path, 0o644, archive.Owner{}, doc),
	} {
		if err := t.Add(e); err != nil {
			return nil, fmt.Errorf("writing SBOM layer: %w", err)
		}
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, archive.DefaultCompressionLevel)
	if err != nil {
		return nil, fmt.Errorf("writing SBOM layer: %w", err)
	}
	if err := t.Write(ctx, zw); err != nil {
		return nil, fmt.Errorf("writing SBOM layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("writing SBOM layer: %w", err)
	}
	data := gz.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("writing SBOM layer: %w", err)
	}
	return l, nil
}
