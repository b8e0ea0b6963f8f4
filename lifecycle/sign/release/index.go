package release

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/kiln-build/kiln/lifecycle/provenance"
	"github.com/kiln-build/kiln/lifecycle/sign"
	"github.com/kiln-build/kiln/lifecycle/sign/signindex"
)

// BuildIndex attests and signs the multi-platform image index a build
// published at ref: each image as Build does for one (its own provenance,
// from b and that image's labels, its SBOM and its signature), then the
// index's provenance (provenance.NewIndex: the images are its
// dependencies; an SBOM is per platform, so the index has none) and the
// index's signature, last, so that a signed index has signed images. A
// failure names the image; what was signed before it stays signed, and
// the index is left unsigned.
func BuildIndex(ctx context.Context, ref name.Digest, b provenance.Build, o Options) error {
	idx, images, err := readIndex(ctx, ref, o)
	if err != nil {
		return err
	}
	src, err := b.DescribeSource(ctx)
	if err != nil {
		return fmt.Errorf("describing the source: %w", err)
	}
	b.Source = &src
	for _, im := range images {
		img, err := indexImage(idx, im)
		if err == nil {
			err = Build(ctx, im.Ref, img, b, o.forImage(im))
		}
		if err != nil {
			return imageError(im, err)
		}
	}
	pred, err := provenance.NewIndex(ctx, b, imageRefs(images))
	if err != nil {
		return fmt.Errorf("making the provenance of %s: %w", ref, err)
	}
	o.SBOM = nil
	return attach(ctx, ref, nil, pred, o)
}

// RebaseIndex attests and signs the image index a rebase published at
// ref, rebased from the index from: each image as Rebase does, carrying
// over the provenance of from's image of the same platform, then the
// index (provenance.RebasedIndex, from from's index provenance when this
// key signed one), signed last.
func RebaseIndex(ctx context.Context, from, ref name.Digest, kilnVersion string, started time.Time, o Options) error {
	idx, images, err := readIndex(ctx, ref, o)
	if err != nil {
		return err
	}
	old, err := signindex.Read(ctx, from, o.Remote...)
	if err != nil {
		return fmt.Errorf("reading the index %s was rebased from: %w", from, err)
	}
	before := map[string]name.Digest{}
	for _, im := range old {
		before[im.Platform] = im.Ref
	}
	for _, im := range images {
		// A rebase keeps every platform; were one new, the old index's
		// own provenance is the closest record of its build.
		was, ok := before[im.Platform]
		if !ok || im.Platform == "" {
			was = from
		}
		img, err := indexImage(idx, im)
		if err == nil {
			err = Rebase(ctx, was, im.Ref, img, kilnVersion, started, o.forImage(im))
		}
		if err != nil {
			return imageError(im, err)
		}
	}
	var oldPred *provenance.Predicate
	if v, ok := o.Signer.(signature.Verifier); ok {
		if oldPred, err = sign.Provenance(ctx, from, v, sign.WithRemote(o.Remote...)); err != nil {
			return fmt.Errorf("reading the provenance of %s: %w", from, err)
		}
	}
	if oldPred == nil {
		o.log("No provenance of %s signed by this key: the new one records only the rebase", from)
	}
	pred := provenance.RebasedIndex(oldPred, from, imageRefs(images), kilnVersion, started, time.Now())
	o.SBOM = nil
	return attach(ctx, ref, nil, pred, o)
}

// readIndex reads the image index at ref and lists its images.
func readIndex(ctx context.Context, ref name.Digest, o Options) (v1.ImageIndex, []signindex.Image, error) {
	idx, err := remote.Index(ref, append(o.Remote, remote.WithContext(ctx))...)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the index %s: %w", ref, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, nil, fmt.Errorf("reading the index %s: %w", ref, err)
	}
	images, err := signindex.Images(ref.Context(), im)
	if err != nil {
		return nil, nil, fmt.Errorf("the index %s: %w", ref, err)
	}
	if len(images) == 0 {
		return nil, nil, fmt.Errorf("the index %s holds no image", ref)
	}
	return idx, images, nil
}

func indexImage(idx v1.ImageIndex, im signindex.Image) (v1.Image, error) {
	h, err := v1.NewHash(im.Ref.DigestStr())
	if err != nil {
		return nil, err
	}
	return idx.Image(h)
}

func imageError(im signindex.Image, err error) error {
	return fmt.Errorf("signing the %s image %s: %w", im.Describe(), im.Ref, err)
}

func imageRefs(images []signindex.Image) []provenance.ImageRef {
	out := make([]provenance.ImageRef, len(images))
	for i, im := range images {
		out[i] = provenance.ImageRef(im)
	}
	return out
}

// forImage is o with each log line prefixed with im's platform.
func (o Options) forImage(im signindex.Image) Options {
	if o.Log != nil {
		o.Log = prefixWriter{prefix: "[" + im.Describe() + "] ", w: o.Log}
	}
	return o
}

// prefixWriter prefixes each write (Options.log writes whole lines).
type prefixWriter struct {
	prefix string
	w      io.Writer
}

func (p prefixWriter) Write(b []byte) (int, error) {
	if _, err := io.WriteString(p.w, p.prefix+string(b)); err != nil {
		return 0, err
	}
	return len(b), nil
}
