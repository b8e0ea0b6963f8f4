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
)

// SBOMFunc returns the CycloneDX JSON SBOM of img. It is the seam that
// package sbom plugs into.
type SBOMFunc func(ctx context.Context, img v1.Image) ([]byte, error)

// Options say how to sign.
type Options struct {
	// Signer signs (a cosign key, a KMS key, a keyless signer).
	Signer signature.Signer
	// SBOM, when set, makes the SBOM attested with predicate type
	// https://cyclonedx.org/bom; nil means no SBOM attestation.
	SBOM SBOMFunc
	// Remote are the registry options (auth, transport).
	Remote []remote.Option
	// Log gets one line per attachment.
	Log io.Writer
}

func (o *Options) log(format string, a ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", a...)
	}
}

// Build attests the provenance of the image img a build published at ref
// (from b and img's labels), its SBOM when o.SBOM is set, and signs it.
func Build(ctx context.Context, ref name.Digest, img v1.Image, b provenance.Build, o Options) error {
	pred, err := provenance.New(ctx, b, img)
	if err != nil {
		return fmt.Errorf("making the provenance of %s: %w", ref, err)
	}
	return attach(ctx, ref, img, pred, o)
}

// Rebase attests and signs the image img a rebase published at ref,
// rebased from the image from: the provenance is from's (when it has one
// o.Signer's key verifies) with the new run image, recorded as rebased.
func Rebase(ctx context.Context, from, ref name.Digest, img v1.Image, kilnVersion string, started time.Time, o Options) error {
	var old *provenance.Predicate
	if v, ok := o.Signer.(signature.Verifier); ok {
		var err error
		if old, err = sign.Provenance(ctx, from, v, sign.WithRemote(o.Remote...)); err != nil {
			return fmt.Errorf("reading the provenance of %s: %w", from, err)
		}
	}
	if old == nil {
		o.log("No provenance of %s signed by this key: the new one records only the rebase", from)
	}
	pred, err := provenance.Rebased(old, from, img, kilnVersion, started, time.Now())
	if err != nil {
		return fmt.Errorf("making the provenance of %s: %w", ref, err)
	}
	return attach(ctx, ref, img, pred, o)
}

// attach attests pred (and the SBOM), then signs ref.
func attach(ctx context.Context, ref name.Digest, img v1.Image, pred *provenance.Predicate, o Options) error {
	opt := sign.WithRemote(o.Remote...)
	body, err := pred.JSON()
	if err != nil {
		return err
	}
	if err := sign.Attest(ctx, ref, o.Signer, provenance.PredicateType, body, opt); err != nil {
		return err
	}
	o.log("Attested provenance (%s)", provenance.PredicateType)
	if o.SBOM != nil {
		bom, err := o.SBOM(ctx, img)
		if err != nil {
			return fmt.Errorf("making the SBOM of %s: %w", ref, err)
		}
		if err := sign.Attest(ctx, ref, o.Signer, sign.CycloneDXPredicateType, bom, opt); err != nil {
			return err
		}
		o.log("Attested SBOM (%s)", sign.CycloneDXPredicateType)
	}
	if err := sign.Sign(ctx, ref, o.Signer, opt); err != nil {
		return err
	}
	o.log("Signed %s", ref)
	return nil
}
