package main

import (
	"bufio"
	"fmt"
	"io"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-build/kiln/buildpacks/internal/layerbom"
	"github.com/kiln-build/kiln/buildpacks/sdk"
	"github.com/kiln-build/kiln/internal/bom"
)

// maxMetadataHeader bounds the header of a METADATA file that is read.
const maxMetadataHeader = 1 << 20

// distInfo is the part of a *.dist-info/METADATA header the SBOM uses.
type distInfo struct{ Name, Version, License string }

// readDistInfo reads the header (core metadata, RFC 822 style) of a
// METADATA file: Name, Version, and License-Expression or License.
func readDistInfo(r io.Reader) (distInfo, error) {
	tp := textproto.NewReader(bufio.NewReader(io.LimitReader(r, maxMetadataHeader)))
	h, err := tp.ReadMIMEHeader()
	if err != nil && err != io.EOF && len(h) == 0 {
		return distInfo{}, err
	}
	d := distInfo{Name: strings.TrimSpace(h.Get("Name")), Version: strings.TrimSpace(h.Get("Version"))}
	if d.Name == "" || d.Version == "" {
		return distInfo{}, fmt.Errorf("no Name or Version")
	}
	d.License = strings.TrimSpace(h.Get("License-Expression"))
	if d.License == "" {
		// License is free text, often a whole licence: keep a first line
		// that looks like a name
		l := strings.TrimSpace(h.Get("License"))
		if first, _, _ := strings.Cut(l, "\n"); len(first) <= 100 && strings.ToUpper(first) != "UNKNOWN" {
			d.License = strings.TrimSpace(first)
		}
	}
	return d, nil
}

// sitePackages lists what pip installed into site: one component per
// *.dist-info directory, from its METADATA.
func sitePackages(site string) ([]bom.Component, error) {
	dirs, err := filepath.Glob(filepath.Join(site, "*.dist-info"))
	if err != nil {
		return nil, err
	}
	var out []bom.Component
	for _, d := range dirs {
		p := filepath.Join(d, "METADATA")
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("reading %s: not a regular file", p)
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		di, err := readDistInfo(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		c := bom.Component{Name: di.Name, Version: di.Version, PURL: bom.PyPIPURL(di.Name, di.Version)}
		if di.License != "" {
			c.Licenses = []string{di.License}
		}
		out = append(out, c)
	}
	return out, nil
}

// writePythonSBOM writes the SBOM of the python layer: the interpreter
// and the Debian package it came from, as the layer's metadata says.
func (b *builder) writePythonSBOM() error {
	version, _ := b.python.Info["version"].(string)
	pkg, _ := b.python.Info["package"].(string)
	c := bom.Component{
		Type:    bom.TypeFramework,
		Name:    "cpython",
		Version: version,
		PURL:    bom.PURL("generic", "python", "cpython", version, nil),
	}
	if pkg != "" {
		c.Properties = []bom.Property{{Name: "kiln:deb:package", Value: pkg}, {Name: "kiln:deb:suite", Value: b.archive.Suite}}
	}
	return layerbom.Write(b.bc, b.python, []bom.Component{c})
}

// writePackagesSBOM writes the SBOM of the packages layer from the
// METADATA of each distribution pip installed there.
func (b *builder) writePackagesSBOM(layer *sdk.Layer, site string) error {
	comps, err := sitePackages(site)
	if err != nil {
		return fmt.Errorf("listing the installed packages for the SBOM: %w", err)
	}
	return layerbom.Write(b.bc, layer, comps)
}
