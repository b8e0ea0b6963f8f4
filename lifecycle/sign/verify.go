package sign

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"github.com/kiln-build/kiln/lifecycle/provenance"
)

// Names of the checks Verify reports.
const (
	CheckSignature   = "signature"
	CheckProvenance  = "provenance attestation signature"
	CheckSubject     = "provenance subject"
	CheckBuilder     = "policy: builder"
	CheckSourceRepo  = "policy: source repo"
	maxFailureDetail = 5
)

// Policy is what the provenance must say, beyond being signed and about
// the image: empty fields are not checked.
type Policy struct {
	// Builder is the builder image the build must have used: a name
	// (compared with the name the build recorded, registry and tag
	// normalised) or name@digest / a bare digest (compared with the
	// builder's digest).
	Builder string
	// SourceRepo is the git remote the source must come from (compared
	// without scheme, credentials, trailing ".git" or "/", host
	// case-insensitively).
	SourceRepo string
}

// Check is one verification step and its outcome.
type Check struct {
	Name   string
	OK     bool
	Detail string // what was found, or precisely what failed
}

// Report is the outcome of Verify.
type Report struct {
	Image  name.Digest
	Checks []Check
	// Provenance is the verified provenance predicate, if one was found.
	Provenance *provenance.Predicate
}

// OK says whether every check passed.
func (r *Report) OK() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return len(r.Checks) > 0
}

// Failed lists the names of the failed checks.
func (r *Report) Failed() []string {
	var f []string
	for _, c := range r.Checks {
		if !c.OK {
			f = append(f, c.Name)
		}
	}
	return f
}

func (r *Report) add(name string, ok bool, format string, a ...any) {
	r.Checks = append(r.Checks, Check{Name: name, OK: ok, Detail: fmt.Sprintf(format, a...)})
}

// Verify checks ref's cosign signature and SLSA provenance attestation
// with v, that the provenance is about ref's digest, and the policy p. A
// check that fails is reported, not returned: the error is for a registry
// that could not be read at all.
func Verify(ctx context.Context, ref name.Digest, v signature.Verifier, p Policy, opts ...Option) (*Report, error) {
	c := newConfig(ctx, opts)
	r := &Report{Image: ref}
	if err := verifySignature(ctx, r, ref, v, c); err != nil {
		return nil, err
	}
	pred, err := verifyProvenance(ctx, r, ref, v, c)
	if err != nil {
		return nil, err
	}
	r.Provenance = pred
	if p.Builder != "" {
		ok, detail := matchBuilder(pred, p.Builder)
		r.add(CheckBuilder, ok, "%s", detail)
	}
	if p.SourceRepo != "" {
		ok, detail := matchSource(pred, p.SourceRepo)
		r.add(CheckSourceRepo, ok, "%s", detail)
	}
	return r, nil
}

func verifySignature(ctx context.Context, r *Report, ref name.Digest, v signature.Verifier, c config) error {
	tag, err := SignatureTag(ref)
	if err != nil {
		return err
	}
	_, entries, err := readImage(ctx, tag, maxSignatureLayer, c.remote)
	if isRegistryDown(err) {
		return err
	}
	if err != nil {
		r.add(CheckSignature, false, "%v", err)
		return nil
	}
	if len(entries) == 0 {
		r.add(CheckSignature, false, "no signature: nothing at %s", tag)
		return nil
	}
	var why []string
	for _, e := range entries {
		err := checkSignatureEntry(e, ref, v)
		if err == nil {
			r.add(CheckSignature, true, "signed by this key (%s of %d at %s)", e.describe(), len(entries), tag)
			return nil
		}
		why = append(why, err.Error())
	}
	r.add(CheckSignature, false, "none of the %d signatures at %s verifies: %s", len(entries), tag, summarize(why))
	return nil
}

// checkSignatureEntry verifies one simple signing layer: signed by v, of
// the cosign type, for ref's digest.
func checkSignatureEntry(e entry, ref name.Digest, v signature.Verifier) error {
	if e.mediaType != SimpleSigningMediaType && e.err == nil {
		return fmt.Errorf("%s: media type %s, want %s", e.describe(), e.mediaType, SimpleSigningMediaType)
	}
	if err := verifySimpleSigning(e, v); err != nil {
		return err
	}
	var pl payload.SimpleContainerImage
	if err := json.Unmarshal(e.payload, &pl); err != nil {
		return fmt.Errorf("%s: payload is not simple signing JSON: %w", e.describe(), err)
	}
	if pl.Critical.Type != payload.CosignSignatureType {
		return fmt.Errorf("%s: payload type %q, want %q", e.describe(), pl.Critical.Type, payload.CosignSignatureType)
	}
	if got := pl.Critical.Image.DockerManifestDigest; got != ref.DigestStr() {
		return fmt.Errorf("%s: signs digest %s, the image is %s", e.describe(), got, ref.DigestStr())
	}
	return nil
}

func verifyProvenance(ctx context.Context, r *Report, ref name.Digest, v signature.Verifier, c config) (*provenance.Predicate, error) {
	tag, err := AttestationTag(ref)
	if err != nil {
		return nil, err
	}
	_, entries, err := readImage(ctx, tag, maxAttestationLayer, c.remote)
	if isRegistryDown(err) {
		return nil, err
	}
	fail := func(format string, a ...any) (*provenance.Predicate, error) {
		r.add(CheckProvenance, false, format, a...)
		r.add(CheckSubject, false, "no verified provenance to check")
		return nil, nil
	}
	if err != nil {
		return fail("%v", err)
	}
	var signed []*Statement
	var why []string
	for _, e := range entries {
		st, err := openAttestation(ctx, e, v)
		switch {
		case err != nil:
			why = append(why, err.Error())
		case st.PredicateType != provenance.PredicateType:
			why = append(why, fmt.Sprintf("%s: predicate type %s", e.describe(), st.PredicateType))
		default:
			signed = append(signed, st)
		}
	}
	if len(signed) == 0 {
		if len(entries) == 0 {
			return fail("no attestation: nothing at %s", tag)
		}
		return fail("no %s attestation signed by this key among %d at %s: %s", provenance.PredicateType, len(entries), tag, summarize(why))
	}
	r.add(CheckProvenance, true, "%s signed by this key", provenance.PredicateType)
	return checkSubjects(r, ref, signed), nil
}

// checkSubjects reports whether a signed provenance statement is about
// ref's digest, and returns its predicate.
func checkSubjects(r *Report, ref name.Digest, signed []*Statement) *provenance.Predicate {
	want, _ := v1.NewHash(ref.DigestStr())
	var seen []string
	for _, st := range signed {
		for _, s := range st.Subject {
			if s.Digest[want.Algorithm] == want.Hex {
				pred, err := provenance.Decode(st.Predicate)
				if err != nil {
					r.add(CheckSubject, false, "about %s, but %v", ref.DigestStr(), err)
					return nil
				}
				r.add(CheckSubject, true, "about %s@%s", s.Name, ref.DigestStr())
				return pred
			}
			for alg, hex := range s.Digest {
				seen = append(seen, alg+":"+hex)
			}
		}
	}
	r.add(CheckSubject, false, "the provenance is about %s, the image is %s", strings.Join(seen, ", "), ref.DigestStr())
	return nil
}

// summarize joins the first few reasons.
func summarize(why []string) string {
	if len(why) > maxFailureDetail {
		why = append(why[:maxFailureDetail:maxFailureDetail], fmt.Sprintf("and %d more", len(why)-maxFailureDetail))
	}
	return strings.Join(why, "; ")
}

// isRegistryDown tells a registry that cannot be reached (an error to
// return) from one that answered with something unusable (a failed
// check).
func isRegistryDown(err error) bool {
	if err == nil {
		return false
	}
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || isNetError(err)
}

// Provenance returns the SLSA provenance of ref that v verifies and that
// is about ref's digest, or nil when there is none.
func Provenance(ctx context.Context, ref name.Digest, v signature.Verifier, opts ...Option) (*provenance.Predicate, error) {
	c := newConfig(ctx, opts)
	return verifyProvenance(ctx, &Report{Image: ref}, ref, v, c)
}
