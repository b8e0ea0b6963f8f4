package sign

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/sigstore/pkg/signature"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// StatementType is the in-toto v1 statement type.
const StatementType = "https://in-toto.io/Statement/v1"

// CycloneDXPredicateType is the predicate type cosign gives a CycloneDX
// SBOM (`cosign attest --type cyclonedx`).
const CycloneDXPredicateType = "https://cyclonedx.org/bom"

// Statement is an in-toto v1 statement about one image.
type Statement struct {
	Type          string          `json:"_type"`
	Subject       []Subject       `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

// Subject names the image a statement is about: its repository and its
// manifest digest.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// NewStatement makes the statement of predicate (a JSON object) about ref.
func NewStatement(ref name.Digest, predicateType string, predicate []byte) (*Statement, error) {
	if predicateType == "" {
		return nil, errors.New("attestation without a predicate type")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(predicate, &obj); err != nil {
		return nil, fmt.Errorf("the %s predicate is not a JSON object: %w", predicateType, err)
	}
	h, err := v1.NewHash(ref.DigestStr())
	if err != nil {
		return nil, fmt.Errorf("digest of %s: %w", ref, err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, predicate); err != nil {
		return nil, err
	}
	return &Statement{
		Type:          StatementType,
		Subject:       []Subject{{Name: ref.Context().Name(), Digest: map[string]string{h.Algorithm: h.Hex}}},
		PredicateType: predicateType,
		Predicate:     compact.Bytes(),
	}, nil
}

// Attest signs an in-toto statement of predicate about ref in a DSSE
// envelope and stores it where cosign looks for attestations
// (AttestationTag), replacing older attestations of the same predicate
// type and keeping the others. As with Sign, the tag moves last.
func Attest(ctx context.Context, ref name.Digest, s signature.Signer, predicateType string, predicate []byte, opts ...Option) error {
	c := newConfig(ctx, opts)
	st, err := NewStatement(ref, predicateType, predicate)
	if err != nil {
		return err
	}
	body, err := json.Marshal(st)
	if err != nil {
		return err
	}
	env, err := sigdsse.WrapSigner(s, InTotoPayloadType).SignMessage(bytes.NewReader(body), options.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("signing the %s attestation of %s: %w", predicateType, ref, err)
	}
	tag, err := AttestationTag(ref)
	if err != nil {
		return err
	}
	// Only the layers' annotations decide what stays: their payloads
	// are not read.
	_, existing, err := readEntries(ctx, tag, c.remote)
	if err != nil {
		return fmt.Errorf("reading the attestations of %s: %w", ref, err)
	}
	var keep []entry
	for _, e := range existing {
		if e.annotations[PredicateTypeAnnotation] != predicateType {
			keep = append(keep, e)
		}
	}
	img, err := rebuild(keep, mutate.Addendum{
		Layer: static.NewLayer(env, DSSEMediaType),
		// cosign writes an empty signature annotation on attestations:
		// the signature is inside the envelope.
		Annotations: map[string]string{PredicateTypeAnnotation: predicateType, SignatureAnnotation: ""},
		MediaType:   DSSEMediaType,
	})
	if err != nil {
		return fmt.Errorf("making the attestation image: %w", err)
	}
	if err := remote.Write(tag, img, c.remote...); err != nil {
		return fmt.Errorf("pushing the attestation %s: %w", tag, err)
	}
	return nil
}

// openAttestation checks e's DSSE envelope with v and returns the
// statement it signs.
func openAttestation(ctx context.Context, e entry, v signature.Verifier) (*Statement, error) {
	if e.err != nil {
		return nil, e.err
	}
	if e.mediaType != DSSEMediaType {
		return nil, fmt.Errorf("%s: media type %s, want %s", e.describe(), e.mediaType, DSSEMediaType)
	}
	var env ssldsse.Envelope
	if err := json.Unmarshal(e.payload, &env); err != nil {
		return nil, fmt.Errorf("%s: not a DSSE envelope: %w", e.describe(), err)
	}
	if env.PayloadType != InTotoPayloadType {
		return nil, fmt.Errorf("%s: payload type %q, want %q", e.describe(), env.PayloadType, InTotoPayloadType)
	}
	ev, err := ssldsse.NewEnvelopeVerifier(&sigdsse.VerifierAdapter{SignatureVerifier: v})
	if err != nil {
		return nil, err
	}
	if _, err := ev.Verify(ctx, &env); err != nil {
		return nil, fmt.Errorf("%s: not signed by this key", e.describe())
	}
	body, err := env.DecodeB64Payload()
	if err != nil {
		return nil, fmt.Errorf("%s: payload: %w", e.describe(), err)
	}
	var st Statement
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, fmt.Errorf("%s: not an in-toto statement: %w", e.describe(), err)
	}
	return &st, nil
}
