package provenance

import (
	"context"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// DepImage names, in the provenance of a multi-platform image index, one
// image of the index: its uri is oci://REPO@DIGEST and its platform is in
// the "platform" annotation.
const DepImage = "image"

// ImageRef is one image of a multi-platform image index.
type ImageRef struct {
	Ref      name.Digest
	Platform string // os/arch[/variant]; empty when the index entry names none
}

// The provenance of an index is a provenance of its own (subject: the
// index digest) rather than only those of its images, because what
// deploys a multi-platform image by tag (an admission policy, cosign
// verify-attestation of the tag) finds the index digest, not an image's.
// It fits the build's provenance as it is: the index was made by the same
// build from the same external parameters, and its inputs are its images,
// so they are its resolvedDependencies. What differs per platform (the
// run image, the buildpacks, the builder image's digest for that
// platform) stays in each image's own provenance, which is the one a
// policy on how an image was built is checked against.

// NewIndex is the provenance of the image index a multi-platform build
// assembled from images: the build's parameters as New records them, the
// builder by the name it was given (its digest only when b says it), and
// one DepImage dependency per image.
func NewIndex(ctx context.Context, b Build, images []ImageRef) (*Predicate, error) {
	src, err := b.DescribeSource(ctx)
	if err != nil {
		return nil, err
	}
	p := fromBuild(b, src)
	p.BuildDefinition.ResolvedDependencies = append(p.BuildDefinition.ResolvedDependencies, indexDependencies(images)...)
	return p, nil
}

// RebasedIndex is the provenance of a rebased image index: the original
// build's (old, when known) with its builder, the index it was rebased
// from, this run's details and the new images.
func RebasedIndex(old *Predicate, from name.Digest, images []ImageRef, kilnVersion string, started, finished time.Time) *Predicate {
	p := &Predicate{BuildDefinition: BuildDefinition{BuildType: BuildType}}
	if old != nil {
		p.BuildDefinition = old.BuildDefinition
		p.BuildDefinition.ResolvedDependencies = nil
		if d, ok := old.Dependency(DepBuilder); ok {
			p.BuildDefinition.ResolvedDependencies = append(p.BuildDefinition.ResolvedDependencies, d)
		}
	}
	p.BuildDefinition.ExternalParameters.RebasedFrom = from.String()
	p.BuildDefinition.ResolvedDependencies = append(p.BuildDefinition.ResolvedDependencies, indexDependencies(images)...)
	p.RunDetails = runDetails(kilnVersion, started, finished)
	return p
}

// indexDependencies describes the images of an index.
func indexDependencies(images []ImageRef) []ResourceDescriptor {
	out := make([]ResourceDescriptor, 0, len(images))
	for _, im := range images {
		d := imageDependency(DepImage, im.Ref.String(), v1.Hash{})
		if h, err := v1.NewHash(im.Ref.DigestStr()); err == nil {
			d.Digest = map[string]string{h.Algorithm: h.Hex}
		}
		if im.Platform != "" {
			d.Annotations = map[string]string{"platform": im.Platform}
		}
		out = append(out, d)
	}
	return out
}
