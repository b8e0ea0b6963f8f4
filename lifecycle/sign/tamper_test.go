package sign

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/kiln-build/kiln/lifecycle/provenance"
)

// rawManifest is a manifest pushed as is.
type rawManifest struct {
	body []byte
	mt   types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.body, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }

// declaredLayers pushes to tag a manifest of n layers that each claim
// size bytes and exist nowhere.
func declaredLayers(t *testing.T, tag name.Tag, mt types.MediaType, n int, size int64) {
	t.Helper()
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
		Config: v1.Descriptor{MediaType: types.OCIConfigJSON, Size: 2, Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("1", 64)}}}
	for i := range n {
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: mt, Size: size,
			Digest:      v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%064x", i+1)},
			Annotations: map[string]string{SignatureAnnotation: "AAAA"}})
	}
	body, _ := json.Marshal(m)
	if err := remote.Put(tag, rawManifest{body, types.OCIManifestSchema1}); err != nil {
		t.Fatal(err)
	}
}

// signedLayer is a simple signing layer of payload signed by key.
func signedLayer(t *testing.T, key signature.Signer, payload []byte) mutate.Addendum {
	t.Helper()
	sig, err := key.SignMessage(bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	return mutate.Addendum{Layer: static.NewLayer(payload, SimpleSigningMediaType), MediaType: SimpleSigningMediaType,
		Annotations: map[string]string{SignatureAnnotation: base64.StdEncoding.EncodeToString(sig)}}
}

func writeImage(t *testing.T, tag name.Tag, adds ...mutate.Addendum) {
	t.Helper()
	img, err := mutate.Append(emptySignatures(), adds...)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
}

// tamperEnv is a signed and attested app image and a second image.
type tamperEnv struct {
	reg        *testRegistry
	ref, other name.Digest
	key        signature.SignerVerifier
	sigTag     name.Tag
	attTag     name.Tag
}

func TestVerifyTampered(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, e *tamperEnv)
		failed string // the check that must fail
		detail string // what its detail must say
	}{
		{"no signature", func(t *testing.T, e *tamperEnv) {
			declaredLayers(t, e.sigTag, SimpleSigningMediaType, 0, 0)
		}, CheckSignature, "no signature"},
		{"payload digest mismatch", func(t *testing.T, e *tamperEnv) {
			pl, _ := Payload(e.other)
			writeImage(t, e.sigTag, signedLayer(t, e.key, pl))
		}, CheckSignature, "signs digest " + "sha256:"},
		{"signature by another key", func(t *testing.T, e *tamperEnv) {
			pl, _ := Payload(e.ref)
			writeImage(t, e.sigTag, signedLayer(t, newKey(t), pl))
		}, CheckSignature, "not signed by this key"},
		{"payload of another type", func(t *testing.T, e *tamperEnv) {
			writeImage(t, e.sigTag, signedLayer(t, e.key, []byte(`{"critical":{"type":"atomic container signature"}}`)))
		}, CheckSignature, `payload type "atomic container signature"`},
		{"sig tag at an ordinary image", func(t *testing.T, e *tamperEnv) {
			img, _ := random.Image(256, 2)
			remote.Write(e.sigTag, img)
		}, CheckSignature, "media type"},
		{"sig tag at an index", func(t *testing.T, e *tamperEnv) {
			idx, _ := random.Index(64, 1, 2)
			remote.WriteIndex(e.sigTag, idx)
		}, CheckSignature, "not an image"},
		{"sig tag at a manifest of garbage", func(t *testing.T, e *tamperEnv) {
			remote.Put(e.sigTag, rawManifest{[]byte(`{"schemaVersion":2,"layers":"x"}`), types.OCIManifestSchema1})
		}, CheckSignature, "manifest"},
		{"huge signature layer", func(t *testing.T, e *tamperEnv) {
			pl, _ := Payload(e.ref)
			big := append(pl[:len(pl)-1:len(pl)-1], []byte(`,"pad":"`+strings.Repeat("x", maxSignatureLayer)+`"}`)...)
			writeImage(t, e.sigTag, signedLayer(t, e.key, big))
		}, CheckSignature, "more than the 1048576 allowed"},
		{"layer claiming a terabyte", func(t *testing.T, e *tamperEnv) {
			declaredLayers(t, e.sigTag, SimpleSigningMediaType, 1, 1<<40)
		}, CheckSignature, "more than the"},
		{"too many layers", func(t *testing.T, e *tamperEnv) {
			declaredLayers(t, e.sigTag, SimpleSigningMediaType, maxLayers+1, 10)
		}, CheckSignature, "more than 1000"},
		{"attestation for another digest", func(t *testing.T, e *tamperEnv) {
			otherAtt, _ := AttestationTag(e.other)
			img, err := remote.Image(otherAtt)
			if err != nil {
				t.Fatal(err)
			}
			remote.Write(e.attTag, img)
		}, CheckSubject, "the image is sha256:"},
		{"attestation signed by another key", func(t *testing.T, e *tamperEnv) {
			if err := Attest(context.Background(), e.ref, newKey(t), provenance.PredicateType, []byte(`{"buildDefinition":{"buildType":"x"}}`)); err != nil {
				t.Fatal(err)
			}
		}, CheckProvenance, "not signed by this key"},
		{"attestation payload swapped", func(t *testing.T, e *tamperEnv) {
			img, _ := remote.Image(e.attTag)
			ls, _ := img.Layers()
			rc, _ := ls[0].Compressed()
			var env ssldsse.Envelope
			json.NewDecoder(rc).Decode(&env)
			rc.Close()
			env.Payload = base64.StdEncoding.EncodeToString([]byte(`{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://slsa.dev/provenance/v1","subject":[]}`))
			body, _ := json.Marshal(env)
			writeImage(t, e.attTag, mutate.Addendum{Layer: static.NewLayer(body, DSSEMediaType), MediaType: DSSEMediaType,
				Annotations: map[string]string{PredicateTypeAnnotation: provenance.PredicateType}})
		}, CheckProvenance, "not signed by this key"},
		{"no provenance, only an SBOM", func(t *testing.T, e *tamperEnv) {
			declaredLayers(t, e.attTag, DSSEMediaType, 0, 0)
			Attest(context.Background(), e.ref, e.key, CycloneDXPredicateType, []byte(`{"bomFormat":"CycloneDX"}`))
		}, CheckProvenance, "predicate type https://cyclonedx.org/bom"},
		{"huge attestation layer", func(t *testing.T, e *tamperEnv) {
			declaredLayers(t, e.attTag, DSSEMediaType, 1, maxAttestationLayer+1)
		}, CheckProvenance, "more than the"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTamperEnv(t)
			tc.tamper(t, e)
			r, err := Verify(context.Background(), e.ref, e.key, Policy{})
			if err != nil {
				t.Fatal(err)
			}
			if r.OK() {
				t.Fatalf("verified: %+v", r.Checks)
			}
			ok, present := checkNames(r)[tc.failed]
			if !present || ok {
				t.Fatalf("check %q did not fail: %+v", tc.failed, r.Checks)
			}
			if d := detail(r, tc.failed); !strings.Contains(d, tc.detail) {
				t.Errorf("%s: detail %q lacks %q", tc.failed, d, tc.detail)
			}
		})
	}
}

func newTamperEnv(t *testing.T) *tamperEnv {
	t.Helper()
	ctx := context.Background()
	e := &tamperEnv{reg: newRegistry(t), key: newKey(t)}
	img := appImage(t)
	e.ref = e.reg.push(t, "app", img)
	otherImg := appImage(t)
	e.other = e.reg.push(t, "other", otherImg)
	for _, x := range []struct {
		ref name.Digest
		img v1.Image
	}{{e.ref, img}, {e.other, otherImg}} {
		if err := Sign(ctx, x.ref, e.key); err != nil {
			t.Fatal(err)
		}
		if err := Attest(ctx, x.ref, e.key, provenance.PredicateType, provenanceOf(t, x.img, "b:1", builderDigest, "")); err != nil {
			t.Fatal(err)
		}
	}
	e.sigTag, _ = SignatureTag(e.ref)
	e.attTag, _ = AttestationTag(e.ref)
	if r, err := Verify(ctx, e.ref, e.key, Policy{}); err != nil || !r.OK() {
		t.Fatalf("untampered image does not verify: %v %+v", err, r)
	}
	return e
}
