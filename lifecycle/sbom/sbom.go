package sbom

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/internal/bom"
)

// LabelBaseSBOM names the run image's SBOM layer by its diffID.
const LabelBaseSBOM = "io.buildpacks.base.sbom"

// Sources of components (the kiln:source property).
const (
	SourceRunImage  = "run-image"
	SourceBuildpack = "buildpack"
)

// Property names added to each merged component.
const (
	PropSource         = "kiln:source"
	PropLayer          = "kiln:layer"
	PropSBOMLayer      = "kiln:sbom-layer"
	PropBuildpack      = "kiln:buildpack"
	PropBuildpackLayer = "kiln:buildpack-layer"
	PropFile           = "kiln:sbom-file"
)

// BOM is the merged bill of materials of an app image.
type BOM struct {
	// Name is the image's name for the document's subject; Read leaves
	// it empty and the caller may set it.
	Name string
	// Digest is the image's manifest digest.
	Digest v1.Hash
	// Created is the image's creation time, the documents' timestamp.
	Created time.Time
	// Components are the run image's packages and the buildpacks'
	// components, with the kiln:* properties of where each came from.
	Components []bom.Component
}

// Read collects the SBOMs of a CNB app image (run image package list +
// buildpack SBOMs).
func Read(ctx context.Context, img v1.Image) (*BOM, error) {
	cfg, md, err := appMetadata(img)
	if err != nil {
		return nil, err
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("reading the image digest: %w", err)
	}
	b := &BOM{Digest: digest, Created: cfg.Created.UTC()}
	r := &reader{img: img}
	if sha := cfg.Config.Labels[LabelBaseSBOM]; sha != "" {
		comps, err := r.runImage(ctx, sha)
		if err != nil {
			return nil, err
		}
		b.Components = append(b.Components, comps...)
	}
	if md.SBOM != nil && md.SBOM.SHA != "" {
		comps, err := r.buildpacks(ctx, md)
		if err != nil {
			return nil, err
		}
		b.Components = append(b.Components, comps...)
	}
	return b, nil
}

// document is the merged BOM in internal/bom's model.
func (b *BOM) document() bom.Document {
	subject := bom.Component{
		Type:    bom.TypeContainer,
		Name:    cmp.Or(b.Name, "app image"),
		Version: b.Digest.String(),
	}
	if b.Name != "" {
		subject.PURL = ociPURL(b.Name, b.Digest)
		subject.Properties = []bom.Property{{Name: "kiln:image", Value: b.Name}}
	}
	subject.Properties = append(subject.Properties, bom.Property{Name: "kiln:digest", Value: b.Digest.String()})
	return bom.Document{Subject: subject, Components: slices.Clone(b.Components), Created: b.Created}
}

// CycloneDX returns the merged BOM as CycloneDX 1.5 JSON; the same BOM
// gives the same bytes.
func (b *BOM) CycloneDX() ([]byte, error) { return b.document().CycloneDX() }

// SPDX returns the merged BOM as SPDX 2.3 JSON.
func (b *BOM) SPDX() ([]byte, error) { return b.document().SPDX() }

// ociPURL is pkg:oci/NAME@DIGEST?repository_url=REPO for a parseable
// image reference, else "".
func ociPURL(ref string, digest v1.Hash) string {
	first, _, ok := strings.Cut(ref, "/")
	if !ok || !strings.ContainsAny(first, ".:") && first != "localhost" {
		return "" // a local store name, or no registry named
	}
	r, err := name.ParseReference(ref, name.WeakValidation)
	if err != nil {
		return ""
	}
	repo := r.Context()
	short := repo.RepositoryStr()
	for i := len(short) - 1; i >= 0; i-- {
		if short[i] == '/' {
			short = short[i+1:]
			break
		}
	}
	return bom.PURL("oci", "", short, digest.String(), map[string]string{"repository_url": repo.Name()})
}
