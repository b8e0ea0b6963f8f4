package sign

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media types and annotations of cosign's signature and attestation
// images (cosign's pkg/types and pkg/oci/static).
const (
	SimpleSigningMediaType  = types.MediaType("application/vnd.dev.cosign.simplesigning.v1+json")
	DSSEMediaType           = types.MediaType("application/vnd.dsse.envelope.v1+json")
	InTotoPayloadType       = "application/vnd.in-toto+json"
	SignatureAnnotation     = "dev.cosignproject.cosign/signature"
	PredicateTypeAnnotation = "predicateType"
)

// Bounds on what is read from a signature or attestation image: cosign
// itself refuses more than 1000 layers.
const (
	maxLayers           = 1000
	maxSignatureLayer   = 1 << 20  // a simple signing payload is a few hundred bytes
	maxAttestationLayer = 32 << 20 // an SBOM of a large image can be MBs
	maxTotal            = 256 << 20
)

// SignatureTag is where cosign keeps the signatures of d: the tag
// sha256-<hex>.sig in d's repository.
func SignatureTag(d name.Digest) (name.Tag, error) { return suffixTag(d, "sig") }

// AttestationTag is where cosign keeps d's attestations (sha256-<hex>.att).
func AttestationTag(d name.Digest) (name.Tag, error) { return suffixTag(d, "att") }

func suffixTag(d name.Digest, suffix string) (name.Tag, error) {
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		return name.Tag{}, fmt.Errorf("digest of %s: %w", d, err)
	}
	return d.Context().Tag(h.Algorithm + "-" + h.Hex + "." + suffix), nil
}

// entry is one layer of a signature or attestation image.
type entry struct {
	layer       v1.Layer
	annotations map[string]string
	mediaType   types.MediaType
	digest      v1.Hash
	size        int64  // as the manifest says
	payload     []byte // nil when not read (over its bound)
	err         error  // why payload could not be read
}

// readImage reads the image at tag, or returns nil, nil when there is
// none. Every layer's payload is read up to limit bytes; a layer over it
// gets an err.
func readImage(ctx context.Context, tag name.Tag, limit int64, ropts []remote.Option) (v1.Image, []entry, error) {
	img, entries, err := readEntries(ctx, tag, ropts)
	if err != nil || img == nil {
		return nil, nil, err
	}
	var total int64
	for i := range entries {
		e := &entries[i]
		switch size := e.size; {
		case size > limit || size < 0:
			e.err = fmt.Errorf("layer %s of %d bytes: more than the %d allowed", e.digest, size, limit)
		case total+size > maxTotal:
			e.err = fmt.Errorf("layer %s: the image holds more than %d MiB in all", e.digest, maxTotal>>20)
		default:
			total += size
			e.payload, e.err = readLayer(e.layer, size)
		}
	}
	return img, entries, nil
}

// readEntries reads the manifest of the image at tag and its layers'
// descriptors, not their payloads; nil, nil when there is no image.
func readEntries(ctx context.Context, tag name.Tag, ropts []remote.Option) (v1.Image, []entry, error) {
	desc, err := remote.Get(tag, append(ropts, remote.WithContext(ctx))...)
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) && te.StatusCode == 404 {
			return nil, nil, nil
		}
		return nil, nil, fmt.Errorf("reading %s: %w", tag, err)
	}
	if !desc.MediaType.IsImage() {
		return nil, nil, fmt.Errorf("%s is a %s, not an image", tag, desc.MediaType)
	}
	img, err := desc.Image()
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", tag, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s manifest: %w", tag, err)
	}
	if len(m.Layers) > maxLayers {
		return nil, nil, fmt.Errorf("%s has %d layers, more than %d", tag, len(m.Layers), maxLayers)
	}
	entries := make([]entry, 0, len(m.Layers))
	for _, l := range m.Layers {
		e := entry{annotations: l.Annotations, mediaType: l.MediaType, digest: l.Digest, size: l.Size}
		if e.layer, err = img.LayerByDigest(l.Digest); err != nil {
			return nil, nil, fmt.Errorf("%s layer %s: %w", tag, l.Digest, err)
		}
		entries = append(entries, e)
	}
	return img, entries, nil
}

// readLayer reads a cosign layer (stored uncompressed) of the given size,
// its digest checked by go-containerregistry at the end of the stream.
func readLayer(l v1.Layer, size int64) ([]byte, error) {
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, size+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != size {
		return nil, fmt.Errorf("layer is %d bytes, its descriptor says %d", len(b), size)
	}
	return b, nil
}

// emptySignatures is the base of a new signature or attestation image,
// as cosign makes it: an empty OCI image.
func emptySignatures() v1.Image {
	return mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
}

// rebuild makes a fresh signature image of entries' layers plus adds.
func rebuild(keep []entry, adds ...mutate.Addendum) (v1.Image, error) {
	all := make([]mutate.Addendum, 0, len(keep)+len(adds))
	for _, e := range keep {
		all = append(all, mutate.Addendum{Layer: e.layer, Annotations: e.annotations, MediaType: e.mediaType})
	}
	return mutate.Append(emptySignatures(), append(all, adds...)...)
}

// describe names an entry for a report.
func (e entry) describe() string {
	h := e.digest.Hex
	if len(h) > 12 {
		h = h[:12]
	}
	return "layer " + h
}
