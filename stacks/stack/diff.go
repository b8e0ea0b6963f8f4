package stack

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	debversion "pault.ag/go/debian/version"

	"github.com/kiln-build/kiln/stacks/debian"
	"github.com/kiln-build/kiln/stacks/debian/dpkg"
	"github.com/kiln-build/kiln/stacks/sbom"
)

// How a package's version changed.
const (
	Upgraded   = "upgraded"
	Downgraded = "downgraded"
	// Rebuilt is a version that differs but compares equal (or that
	// Debian's rules cannot compare).
	Rebuilt = "changed"
)

// Change is one package installed in both images at different versions.
type Change struct {
	Name         string `json:"name"`
	Architecture string `json:"architecture"`
	From         string `json:"from"`
	To           string `json:"to"`
	// Kind is Upgraded, Downgraded or Rebuilt, by Debian's version order.
	Kind string `json:"change"`
}

// PackageDiff is what changed between two stack images' package lists,
// each part sorted by name and architecture.
type PackageDiff struct {
	Added   []dpkg.Package `json:"added"`
	Removed []dpkg.Package `json:"removed"`
	Changed []Change       `json:"changed"`
}

// Empty reports whether the two lists held the same packages at the same
// versions.
func (d PackageDiff) Empty() bool {
	return len(d.Added) == 0 && len(d.Removed) == 0 && len(d.Changed) == 0
}

// Summary is "1 added, 0 removed, 2 upgraded, 0 downgraded".
func (d PackageDiff) Summary() string {
	n := map[string]int{}
	for _, c := range d.Changed {
		n[c.Kind]++
	}
	s := fmt.Sprintf("%d added, %d removed, %d upgraded, %d downgraded", len(d.Added), len(d.Removed), n[Upgraded], n[Downgraded])
	if n[Rebuilt] > 0 {
		s += fmt.Sprintf(", %d changed", n[Rebuilt])
	}
	return s
}

// Lines are one line per difference: "added netbase:all 6.4",
// "upgraded libc6:amd64 2.36-9+deb12u13 -> 2.36-9+deb12u14".
func (d PackageDiff) Lines() []string {
	var out []string
	for _, p := range d.Added {
		out = append(out, fmt.Sprintf("added      %s:%s %s", p.Name, p.Architecture, p.Version))
	}
	for _, p := range d.Removed {
		out = append(out, fmt.Sprintf("removed    %s:%s %s", p.Name, p.Architecture, p.Version))
	}
	for _, c := range d.Changed {
		out = append(out, fmt.Sprintf("%-10s %s:%s %s -> %s", c.Kind, c.Name, c.Architecture, c.From, c.To))
	}
	return out
}

// DiffPackages compares the package lists of an older and a newer image.
// A package is its name and architecture; one listed twice counts once
// (the last entry).
func DiffPackages(old, new []dpkg.Package) PackageDiff {
	key := func(p dpkg.Package) string { return p.Name + ":" + p.Architecture }
	before := map[string]dpkg.Package{}
	for _, p := range old {
		before[key(p)] = p
	}
	after := map[string]dpkg.Package{}
	for _, p := range new {
		after[key(p)] = p
	}
	var d PackageDiff
	for k, p := range after {
		o, ok := before[k]
		switch {
		case !ok:
			d.Added = append(d.Added, p)
		case o.Version != p.Version:
			d.Changed = append(d.Changed, Change{Name: p.Name, Architecture: p.Architecture, From: o.Version, To: p.Version, Kind: versionChange(o.Version, p.Version)})
		}
	}
	for k, p := range before {
		if _, ok := after[k]; !ok {
			d.Removed = append(d.Removed, p)
		}
	}
	byKey := func(ps []dpkg.Package) {
		sort.Slice(ps, func(i, j int) bool { return key(ps[i]) < key(ps[j]) })
	}
	byKey(d.Added)
	byKey(d.Removed)
	sort.Slice(d.Changed, func(i, j int) bool {
		return d.Changed[i].Name+":"+d.Changed[i].Architecture < d.Changed[j].Name+":"+d.Changed[j].Architecture
	})
	return d
}

// versionChange orders two Debian versions.
func versionChange(from, to string) string {
	a, err1 := debversion.Parse(from)
	b, err2 := debversion.Parse(to)
	if err1 != nil || err2 != nil {
		return Rebuilt
	}
	switch c := debversion.Compare(a, b); {
	case c < 0:
		return Upgraded
	case c > 0:
		return Downgraded
	}
	return Rebuilt
}

// maxSBOMSize bounds the SBOM document ImagePackages reads.
const maxSBOMSize = 64 << 20

// maxSBOMEntries bounds the tar entries looked through for it.
const maxSBOMEntries = 64

// ImagePackages returns the packages a stack image holds: the
// io.kiln.packages label, or, without it, the CycloneDX document in the
// layer the io.buildpacks.base.sbom label names. Only the config is read
// when the label is there.
func ImagePackages(img v1.Image) ([]dpkg.Package, error) {
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading image config: %w", err)
	}
	if _, ok := cfg.Config.Labels[debian.LabelPackages]; ok {
		return debian.Packages(img)
	}
	id, ok := cfg.Config.Labels[LabelSBOM]
	if !ok {
		return nil, fmt.Errorf("the image has neither a %s nor a %s label: not a kiln stack image", debian.LabelPackages, LabelSBOM)
	}
	h, err := v1.NewHash(id)
	if err != nil {
		return nil, fmt.Errorf("label %s: %w", LabelSBOM, err)
	}
	l, err := img.LayerByDiffID(h)
	if err != nil {
		return nil, fmt.Errorf("the SBOM layer %s: %w", id, err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, fmt.Errorf("reading the SBOM layer %s: %w", id, err)
	}
	defer rc.Close()
	doc, err := sbomDocument(tar.NewReader(rc))
	if err != nil {
		return nil, fmt.Errorf("reading the SBOM layer %s: %w", id, err)
	}
	return sbom.Decode(doc)
}

// sbomDocument finds sbom.Path in a layer and reads it, within bounds.
func sbomDocument(tr *tar.Reader) ([]byte, error) {
	for range maxSBOMEntries {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if strings.TrimPrefix(path.Clean("/"+h.Name), "/") != sbom.Path || h.Typeflag != tar.TypeReg {
			continue
		}
		if h.Size > maxSBOMSize {
			return nil, fmt.Errorf("/%s is %d bytes, more than %d", sbom.Path, h.Size, maxSBOMSize)
		}
		return io.ReadAll(io.LimitReader(tr, maxSBOMSize))
	}
	return nil, fmt.Errorf("no /%s among its first %d entries", sbom.Path, maxSBOMEntries)
}
