package sign

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/kiln-build/kiln/lifecycle/provenance"
)

var builderDigest = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("b", 64)}

func TestSignAttestVerify(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t)
	img := appImage(t)
	ref := reg.push(t, "team/app", img)
	key := newKey(t)
	if err := Sign(ctx, ref, key); err != nil {
		t.Fatal(err)
	}
	pred := provenanceOf(t, img, "reg.example/builder:1", builderDigest, "https://git.example/team/app.git")
	if err := Attest(ctx, ref, key, provenance.PredicateType, pred); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		policy Policy
		want   map[string]bool
	}{
		{"no policy", Policy{}, map[string]bool{CheckSignature: true, CheckProvenance: true, CheckSubject: true}},
		{"matching policy", Policy{Builder: "reg.example/builder:1", SourceRepo: "git@git.example:team/app"},
			map[string]bool{CheckSignature: true, CheckProvenance: true, CheckSubject: true, CheckBuilder: true, CheckSourceRepo: true}},
		{"builder by digest", Policy{Builder: "reg.example/builder@" + builderDigest.String()},
			map[string]bool{CheckSignature: true, CheckProvenance: true, CheckSubject: true, CheckBuilder: true}},
		{"wrong builder", Policy{Builder: "reg.example/other:1"},
			map[string]bool{CheckSignature: true, CheckProvenance: true, CheckSubject: true, CheckBuilder: false}},
		{"wrong builder digest", Policy{Builder: "sha256:" + strings.Repeat("0", 64)},
			map[string]bool{CheckSignature: true, CheckProvenance: true, CheckSubject: true, CheckBuilder: false}},
		{"wrong source", Policy{SourceRepo: "https://git.example/team/other"},
			map[string]bool{CheckSignature: true, CheckProvenance: true, CheckSubject: true, CheckSourceRepo: false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Verify(ctx, ref, key, tc.policy)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, checkNames(r)); diff != "" {
				t.Fatalf("checks (-want +got):\n%s\n%+v", diff, r.Checks)
			}
			allOK := true
			for _, ok := range tc.want {
				allOK = allOK && ok
			}
			if r.OK() != allOK {
				t.Errorf("OK() = %v", r.OK())
			}
		})
	}
	r, _ := Verify(ctx, ref, key, Policy{Builder: "reg.example/other:1"})
	if d := detail(r, CheckBuilder); !strings.Contains(d, "reg.example/builder:1") || !strings.Contains(d, "want reg.example/other:1") {
		t.Errorf("builder failure detail %q does not say what was found and wanted", d)
	}
}

// The signature image is cosign's: OCI manifest, one simple signing
// layer per signature with the signature annotation.
func TestSignatureLayout(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t)
	ref := reg.push(t, "app", appImage(t))
	key := newKey(t)
	if err := Sign(ctx, ref, key); err != nil {
		t.Fatal(err)
	}
	tag, _ := SignatureTag(ref)
	if want := ref.Context().Name() + ":sha256-" + strings.TrimPrefix(ref.DigestStr(), "sha256:") + ".sig"; tag.Name() != want {
		t.Fatalf("tag %s, want %s", tag, want)
	}
	img, err := remote.Image(tag)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := img.Manifest()
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON || len(m.Layers) != 1 {
		t.Fatalf("manifest %s, config %s, %d layers", m.MediaType, m.Config.MediaType, len(m.Layers))
	}
	l := m.Layers[0]
	if l.MediaType != SimpleSigningMediaType {
		t.Errorf("layer media type %s", l.MediaType)
	}
	layer, _ := img.LayerByDigest(l.Digest)
	pl, _ := readLayer(layer, l.Size)
	var got map[string]any
	json.Unmarshal(pl, &got)
	want := map[string]any{
		"critical": map[string]any{
			"identity": map[string]any{"docker-reference": ref.Context().Name()},
			"image":    map[string]any{"docker-manifest-digest": ref.DigestStr()},
			"type":     "cosign container image signature",
		},
		"optional": nil,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}
	sig, err := base64.StdEncoding.DecodeString(l.Annotations[SignatureAnnotation])
	if err != nil || key.VerifySignature(bytes.NewReader(sig), bytes.NewReader(pl)) != nil {
		t.Errorf("annotation %q does not verify: %v", l.Annotations[SignatureAnnotation], err)
	}
}

// Signing again with the same key adds nothing; another key's signature
// is added beside the first, and both verify.
func TestSignAppendsAndDeduplicates(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t)
	ref := reg.push(t, "app", appImage(t))
	a, b := newKey(t), newKey(t)
	tag, _ := SignatureTag(ref)
	for i, tc := range []struct {
		key    signature.SignerVerifier
		layers int
	}{{a, 1}, {a, 1}, {b, 2}, {b, 2}} {
		if err := Sign(ctx, ref, tc.key); err != nil {
			t.Fatal(err)
		}
		if n := layerCount(t, tag); n != tc.layers {
			t.Fatalf("after signature %d: %d layers, want %d", i+1, n, tc.layers)
		}
	}
	for _, k := range []signature.SignerVerifier{a, b} {
		r, err := Verify(ctx, ref, k, Policy{})
		if err != nil {
			t.Fatal(err)
		}
		if !checkNames(r)[CheckSignature] {
			t.Errorf("signature check failed: %+v", r.Checks)
		}
	}
}

// A newer attestation of a predicate type replaces the older one; other
// predicate types stay.
func TestAttestReplacesSameType(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t)
	img := appImage(t)
	ref := reg.push(t, "app", img)
	key := newKey(t)
	bom := []byte(`{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"components":[]}`)
	steps := []struct {
		typ  string
		body []byte
	}{
		{provenance.PredicateType, provenanceOf(t, img, "b:1", builderDigest, "")},
		{CycloneDXPredicateType, bom},
		{provenance.PredicateType, provenanceOf(t, img, "b:2", builderDigest, "")},
	}
	for _, s := range steps {
		if err := Attest(ctx, ref, key, s.typ, s.body); err != nil {
			t.Fatal(err)
		}
	}
	tag, _ := AttestationTag(ref)
	att, err := remote.Image(tag)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := att.Manifest()
	var types []string
	for _, l := range m.Layers {
		types = append(types, l.Annotations[PredicateTypeAnnotation])
		if l.MediaType != DSSEMediaType {
			t.Errorf("layer media type %s", l.MediaType)
		}
	}
	if diff := cmp.Diff([]string{CycloneDXPredicateType, provenance.PredicateType}, types); diff != "" {
		t.Errorf("predicate types (-want +got):\n%s", diff)
	}
	r, _ := Verify(ctx, ref, key, Policy{Builder: "b:2"})
	if !checkNames(r)[CheckBuilder] {
		t.Errorf("the newest provenance is not the one verified: %+v", r.Checks)
	}
	if err := Attest(ctx, ref, key, CycloneDXPredicateType, []byte(`["not an object"]`)); err == nil {
		t.Error("a predicate that is not a JSON object was attested")
	}
	// Replacing one attestation reads no other's payload (an SBOM can
	// be MBs): only the manifest and the config.
	reg.blobGets.Store(0)
	if err := Attest(ctx, ref, key, provenance.PredicateType, provenanceOf(t, img, "b:3", builderDigest, "")); err != nil {
		t.Fatal(err)
	}
	if n := reg.blobGets.Load(); n > 1 {
		t.Errorf("re-attesting read %d blobs, want at most the config", n)
	}
}

// A failed push leaves the signature image as it was.
func TestFailedSignKeepsOldSignatures(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t)
	ref := reg.push(t, "app", appImage(t))
	a := newKey(t)
	if err := Sign(ctx, ref, a); err != nil {
		t.Fatal(err)
	}
	tag, _ := SignatureTag(ref)
	before, _ := remote.Head(tag)
	reg.failManifest.Store(true)
	if err := Sign(ctx, ref, newKey(t), WithRemote(remote.WithRetryBackoff(remote.Backoff{Steps: 1}))); err == nil {
		t.Fatal("Sign succeeded though the registry refused the manifest")
	}
	reg.failManifest.Store(false)
	after, _ := remote.Head(tag)
	if before.Digest != after.Digest {
		t.Fatalf("signature image moved from %s to %s", before.Digest, after.Digest)
	}
	if r, _ := Verify(ctx, ref, a, Policy{}); !checkNames(r)[CheckSignature] {
		t.Errorf("the first signature no longer verifies: %+v", r.Checks)
	}
}
