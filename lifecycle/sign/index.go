package sign

import (
	"bytes"
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/signature"
)

// maxIndexImages bounds the entries of an image index read to sign or
// verify it (real indexes hold a handful).
const maxIndexImages = 1000

// IndexImage is one image of an image index.
type IndexImage struct {
	Ref      name.Digest // REPO@DIGEST, in the index's repository
	Platform string      // os/arch[/variant]; empty when the entry names none
}

// Describe names the image in messages: its platform, else its digest.
func (im IndexImage) Describe() string {
	if im.Platform != "" {
		return im.Platform
	}
	return im.Ref.DigestStr()
}

// IndexImages lists the images of im, the manifest of an index in repo,
// in index order.
// An entry that is itself an index is refused (kiln builds, signs and
// verifies one level); entries that are neither image nor index
// (artifacts) are left out, as a runtime pulling by platform does.
func IndexImages(repo name.Repository, im *v1.IndexManifest) ([]IndexImage, error) {
	if n := len(im.Manifests); n > maxIndexImages {
		return nil, fmt.Errorf("the index lists %d manifests, more than %d", n, maxIndexImages)
	}
	var out []IndexImage
	for _, d := range im.Manifests {
		switch {
		case d.MediaType.IsIndex():
			return nil, fmt.Errorf("the index holds another index (%s): kiln signs and verifies an index of images", d.Digest)
		case !d.MediaType.IsImage():
			continue
		}
		e := IndexImage{Ref: repo.Digest(d.Digest.String())}
		if d.Platform != nil {
			e.Platform = platformString(*d.Platform)
		}
		out = append(out, e)
	}
	return out, nil
}

// platformString is os/arch[/variant].
func platformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// ReadIndex reads the image index at ref from its registry and lists its
// images (IndexImages); ref naming an image is an error.
func ReadIndex(ctx context.Context, ref name.Digest, opts ...Option) ([]IndexImage, error) {
	c := newConfig(ctx, opts)
	desc, err := remote.Get(ref, c.remote...)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	if !desc.MediaType.IsIndex() {
		return nil, fmt.Errorf("%s is a %s, not an image index", ref, desc.MediaType)
	}
	im, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	images, err := IndexImages(ref.Context(), im)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	return images, nil
}

// SignIndex signs every image of the image index at ref and then the
// index, each as Sign does: the signatures `cosign sign --recursive`
// makes, each at the sha256-<hex>.sig tag of its digest in ref's
// repository. cosign signs the index first; kiln signs it last, so a
// signed index has signed images. It returns what it signed, in order; a
// failure names the image and leaves the index unsigned.
func SignIndex(ctx context.Context, ref name.Digest, s signature.Signer, opts ...Option) ([]name.Digest, error) {
	images, err := ReadIndex(ctx, ref, opts...)
	if err != nil {
		return nil, err
	}
	var done []name.Digest
	for _, im := range images {
		if err := Sign(ctx, im.Ref, s, opts...); err != nil {
			return done, fmt.Errorf("the %s image of %s: %w", im.Describe(), ref, err)
		}
		done = append(done, im.Ref)
	}
	if err := Sign(ctx, ref, s, opts...); err != nil {
		return done, err
	}
	return append(done, ref), nil
}

// IndexReport is the outcome of VerifyIndex: the index's own checks and
// each image's.
type IndexReport struct {
	Index  *Report
	Images []*Report // in index order, each with its Platform
}

// OK says whether the index and every image passed, and there was an
// image.
func (r *IndexReport) OK() bool {
	if !r.Index.OK() || len(r.Images) == 0 {
		return false
	}
	for _, im := range r.Images {
		if !im.OK() {
			return false
		}
	}
	return true
}

// Failed lists the failed checks, each after what failed it ("index:
// signature", "linux/arm64: provenance subject").
func (r *IndexReport) Failed() []string {
	var f []string
	for _, n := range r.Index.Failed() {
		f = append(f, "index: "+n)
	}
	if len(r.Images) == 0 {
		f = append(f, "index: no images")
	}
	for _, im := range r.Images {
		for _, n := range im.Failed() {
			f = append(f, im.Platform+": "+n)
		}
	}
	return f
}

// VerifyIndex checks the image index at ref with v: its signature, a
// signed provenance attestation about the index digest (what `cosign
// verify` and `verify-attestation` of the index's tag check), then each
// image as Verify does. The policy p is checked on each image's
// provenance, which records that platform's builder image digest; the
// index's provenance names the builder by name only. A failed check is
// reported, not returned: the error is for an index that could not be
// read.
func VerifyIndex(ctx context.Context, ref name.Digest, v signature.Verifier, p Policy, opts ...Option) (*IndexReport, error) {
	images, err := ReadIndex(ctx, ref, opts...)
	if err != nil {
		return nil, err
	}
	c := newConfig(ctx, opts)
	idx := &Report{Image: ref}
	if err := verifySignature(ctx, idx, ref, v, c); err != nil {
		return nil, err
	}
	if idx.Provenance, err = verifyProvenance(ctx, idx, ref, v, c); err != nil {
		return nil, err
	}
	r := &IndexReport{Index: idx}
	for _, im := range images {
		ir, err := Verify(ctx, im.Ref, v, p, opts...)
		if err != nil {
			return nil, fmt.Errorf("the %s image of %s: %w", im.Describe(), ref, err)
		}
		ir.Platform = im.Describe()
		r.Images = append(r.Images, ir)
	}
	return r, nil
}
