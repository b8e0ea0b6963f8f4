package signindex

import (
	"bytes"
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/kiln-build/kiln/lifecycle/sign"
)

// maxImages bounds the entries of an image index read to sign or verify
// it (real indexes hold a handful).
const maxImages = 1000

// Image is one image of an image index.
type Image struct {
	Ref      name.Digest // REPO@DIGEST, in the index's repository
	Platform string      // os/arch[/variant]; empty when the entry names none
}

// Describe names the image in messages: its platform, else its digest.
func (im Image) Describe() string {
	if im.Platform != "" {
		return im.Platform
	}
	return im.Ref.DigestStr()
}

// Images lists the images of m, the manifest of an index in repo, in
// index order. An entry that is itself an index is refused (kiln builds,
// signs and verifies one level); entries that are neither image nor index
// (artifacts) are left out, as a runtime pulling by platform does.
func Images(repo name.Repository, m *v1.IndexManifest) ([]Image, error) {
	if n := len(m.Manifests); n > maxImages {
		return nil, fmt.Errorf("the index lists %d manifests, more than %d", n, maxImages)
	}
	var out []Image
	for _, d := range m.Manifests {
		switch {
		case d.MediaType.IsIndex():
			return nil, fmt.Errorf("the index holds another index (%s): kiln signs and verifies an index of images", d.Digest)
		case !d.MediaType.IsImage():
			continue
		}
		e := Image{Ref: repo.Digest(d.Digest.String())}
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

// Read reads the image index at ref from its registry and lists its
// images (Images); ref naming an image is an error.
func Read(ctx context.Context, ref name.Digest, ropts ...remote.Option) ([]Image, error) {
	desc, err := remote.Get(ref, append(ropts, remote.WithContext(ctx))...)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	if !desc.MediaType.IsIndex() {
		return nil, fmt.Errorf("%s is a %s, not an image index", ref, desc.MediaType)
	}
	m, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	images, err := Images(ref.Context(), m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	return images, nil
}

// Sign signs every image of the image index at ref and then the index,
// each as sign.Sign does: the signatures `cosign sign --recursive` makes,
// each at the sha256-<hex>.sig tag of its digest in ref's repository.
// cosign signs the index first; kiln signs it last, so a signed index has
// signed images. It returns what it signed, in order; a failure names the
// image and leaves the index unsigned.
func Sign(ctx context.Context, ref name.Digest, s signature.Signer, ropts ...remote.Option) ([]name.Digest, error) {
	images, err := Read(ctx, ref, ropts...)
	if err != nil {
		return nil, err
	}
	opt := sign.WithRemote(ropts...)
	var done []name.Digest
	for _, im := range images {
		if err := sign.Sign(ctx, im.Ref, s, opt); err != nil {
			return done, fmt.Errorf("the %s image of %s: %w", im.Describe(), ref, err)
		}
		done = append(done, im.Ref)
	}
	if err := sign.Sign(ctx, ref, s, opt); err != nil {
		return done, err
	}
	return append(done, ref), nil
}

// Report is the outcome of Verify: the index's own checks and each
// image's.
type Report struct {
	Index  *sign.Report
	Images []ImageReport // in index order
}

// ImageReport is one image's checks.
type ImageReport struct {
	*sign.Report
	Platform string // as Image.Describe says
}

// OK says whether the index and every image passed, and there was an
// image.
func (r *Report) OK() bool {
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
func (r *Report) Failed() []string {
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

// Verify checks the image index at ref with v: its signature and a signed
// provenance attestation about the index digest (what `cosign verify` and
// `verify-attestation` of the index's tag check), as sign.Verify checks
// an image, then each image with sign.Verify. The policy p is checked on
// each image's provenance, which records that platform's builder image
// digest; the index's provenance names the builder by name only. A
// failed check is reported, not returned: the error is for an index that
// could not be read.
func Verify(ctx context.Context, ref name.Digest, v signature.Verifier, p sign.Policy, ropts ...remote.Option) (*Report, error) {
	images, err := Read(ctx, ref, ropts...)
	if err != nil {
		return nil, err
	}
	opt := sign.WithRemote(ropts...)
	idx, err := sign.Verify(ctx, ref, v, sign.Policy{}, opt)
	if err != nil {
		return nil, err
	}
	r := &Report{Index: idx}
	for _, im := range images {
		ir, err := sign.Verify(ctx, im.Ref, v, p, opt)
		if err != nil {
			return nil, fmt.Errorf("the %s image of %s: %w", im.Describe(), ref, err)
		}
		r.Images = append(r.Images, ImageReport{Report: ir, Platform: im.Describe()})
	}
	return r, nil
}
