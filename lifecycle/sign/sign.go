package sign

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"github.com/sigstore/sigstore/pkg/signature/payload"
)

// Option configures registry access.
type Option func(*config)

type config struct {
	remote []remote.Option
}

// WithRemote passes go-containerregistry options (auth, transport) to
// every registry call.
func WithRemote(opts ...remote.Option) Option {
	return func(c *config) { c.remote = append(c.remote, opts...) }
}

func newConfig(ctx context.Context, opts []Option) config {
	var c config
	for _, o := range opts {
		o(&c)
	}
	c.remote = append(c.remote, remote.WithContext(ctx))
	return c
}

// Payload is the cosign "simple signing" payload for ref: its repository
// as the claimed identity and its manifest digest.
func Payload(ref name.Digest) ([]byte, error) {
	return payload.Cosign{Image: ref}.MarshalJSON()
}

// Sign signs ref's manifest digest with s and adds the signature to the
// image cosign looks it up in (SignatureTag), keeping the signatures
// already there. A signature of the same payload that s's key already
// verifies is not added twice. The new image is pushed whole before the
// tag moves, so a failed Sign leaves the old one as it was.
func Sign(ctx context.Context, ref name.Digest, s signature.Signer, opts ...Option) error {
	c := newConfig(ctx, opts)
	tag, err := SignatureTag(ref)
	if err != nil {
		return err
	}
	pl, err := Payload(ref)
	if err != nil {
		return fmt.Errorf("making the signature payload: %w", err)
	}
	_, existing, err := readImage(ctx, tag, maxSignatureLayer, c.remote)
	if err != nil {
		return fmt.Errorf("reading the signatures of %s: %w", ref, err)
	}
	if v, ok := s.(signature.Verifier); ok && signedBy(existing, pl, v) {
		return nil
	}
	sig, err := s.SignMessage(bytes.NewReader(pl), options.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("signing %s: %w", ref, err)
	}
	img, err := rebuild(existing, mutate.Addendum{
		Layer:       static.NewLayer(pl, SimpleSigningMediaType),
		Annotations: map[string]string{SignatureAnnotation: base64.StdEncoding.EncodeToString(sig)},
		MediaType:   SimpleSigningMediaType,
	})
	if err != nil {
		return fmt.Errorf("making the signature image: %w", err)
	}
	if err := remote.Write(tag, img, c.remote...); err != nil {
		return fmt.Errorf("pushing the signature %s: %w", tag, err)
	}
	return nil
}

// signedBy says whether entries hold a signature of pl by v.
func signedBy(entries []entry, pl []byte, v signature.Verifier) bool {
	for _, e := range entries {
		if e.err != nil || !bytes.Equal(e.payload, pl) {
			continue
		}
		if verifySimpleSigning(e, v) == nil {
			return true
		}
	}
	return false
}

// verifySimpleSigning checks e's signature annotation over its payload.
func verifySimpleSigning(e entry, v signature.Verifier) error {
	if e.err != nil {
		return e.err
	}
	b64, ok := e.annotations[SignatureAnnotation]
	if !ok {
		return fmt.Errorf("%s has no %s annotation", e.describe(), SignatureAnnotation)
	}
	sig, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return fmt.Errorf("%s: the signature is not base64: %w", e.describe(), err)
	}
	if err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(e.payload)); err != nil {
		return fmt.Errorf("%s: not signed by this key", e.describe())
	}
	return nil
}
