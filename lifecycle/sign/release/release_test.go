package release

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/kiln-build/kiln/lifecycle/labels"
	"github.com/kiln-build/kiln/lifecycle/provenance"
	"github.com/kiln-build/kiln/lifecycle/sign"
)

// testBOM is a small CycloneDX 1.5 document standing in for package
// sbom's output.
const testBOM = `{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,
 "components":[{"type":"library","name":"left-pad","version":"1.3.0","purl":"pkg:npm/left-pad@1.3.0"}]}`

func setup(t *testing.T, run string) (string, name.Digest) {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	return host, push(t, host+"/team/app:latest", run)
}

func push(t *testing.T, ref, run string) name.Digest {
	t.Helper()
	img, _ := random.Image(64, 1)
	cfg, _ := img.ConfigFile()
	cfg = cfg.DeepCopy()
	cfg.Config.Labels = map[string]string{
		labels.LifecycleMetadata: `{"runImage":{"image":"reg.example/run:1","reference":"reg.example/run@sha256:` + run + `"}}`,
		labels.BuildMetadata:     `{"buildpacks":[{"id":"kiln/go","version":"1.2.3"}]}`,
	}
	img, _ = mutate.ConfigFile(img, cfg)
	tag, _ := name.NewTag(ref)
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return tag.Context().Digest(d.String())
}

func image(t *testing.T, d name.Digest) v1.Image {
	t.Helper()
	img, err := remote.Image(d)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func key(t *testing.T) signature.SignerVerifier {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sv, err := signature.LoadECDSASignerVerifier(k, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return sv
}

func predicateTypes(t *testing.T, d name.Digest) []string {
	t.Helper()
	tag, _ := sign.AttestationTag(d)
	img, err := remote.Image(tag)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := img.Manifest()
	var out []string
	for _, l := range m.Layers {
		out = append(out, l.Annotations[sign.PredicateTypeAnnotation])
	}
	return out
}

func TestBuildAndRebase(t *testing.T) {
	ctx := context.Background()
	host, ref := setup(t, strings.Repeat("a", 64))
	k := key(t)
	var log bytes.Buffer
	var bomFor v1.Hash
	o := Options{Signer: k, Log: &log, SBOM: func(_ context.Context, img v1.Image) ([]byte, error) {
		bomFor, _ = img.Digest()
		return []byte(testBOM), nil
	}}
	b := provenance.Build{BuilderRef: "reg.example/builder:1", SourceDir: t.TempDir(), EnvNames: []string{"A"}, StartedOn: time.Now(), KilnVersion: "test"}
	if err := Build(ctx, ref, image(t, ref), b, o); err != nil {
		t.Fatal(err)
	}
	if bomFor.String() != ref.DigestStr() {
		t.Errorf("the SBOM was made of %s, not the image", bomFor)
	}
	if diff := cmp.Diff([]string{provenance.PredicateType, sign.CycloneDXPredicateType}, predicateTypes(t, ref)); diff != "" {
		t.Errorf("attestations (-want +got):\n%s", diff)
	}
	r, err := sign.Verify(ctx, ref, k, sign.Policy{Builder: "reg.example/builder:1"})
	if err != nil || !r.OK() {
		t.Fatalf("the built image does not verify: %v %+v", err, r)
	}
	wantLog := "Attested provenance (https://slsa.dev/provenance/v1)\nAttested SBOM (https://cyclonedx.org/bom)\nSigned " + ref.String() + "\n"
	if diff := cmp.Diff(wantLog, log.String()); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}

	// The rebased image keeps the builder and source, with the new run image.
	rebased := push(t, host+"/team/app:latest", strings.Repeat("c", 64))
	o.SBOM = nil
	if err := Rebase(ctx, ref, rebased, image(t, rebased), "test", time.Now(), o); err != nil {
		t.Fatal(err)
	}
	r, err = sign.Verify(ctx, rebased, k, sign.Policy{Builder: "reg.example/builder:1"})
	if err != nil || !r.OK() {
		t.Fatalf("the rebased image does not verify: %v %+v", err, r)
	}
	ri, _ := r.Provenance.Dependency(provenance.DepRunImage)
	if ri.Digest["sha256"] != strings.Repeat("c", 64) || r.Provenance.BuildDefinition.ExternalParameters.RebasedFrom != ref.String() {
		t.Errorf("rebased provenance: run image %+v, rebased from %q", ri, r.Provenance.BuildDefinition.ExternalParameters.RebasedFrom)
	}
	// The attested SBOM is a statement cosign's cyclonedx type reads.
	st := statement(t, ref)
	if st.PredicateType != sign.CycloneDXPredicateType || !json.Valid(st.Predicate) {
		t.Errorf("SBOM statement %+v", st)
	}
}

// statement returns the SBOM statement attached to d.
func statement(t *testing.T, d name.Digest) sign.Statement {
	t.Helper()
	tag, _ := sign.AttestationTag(d)
	img, _ := remote.Image(tag)
	m, _ := img.Manifest()
	for _, l := range m.Layers {
		if l.Annotations[sign.PredicateTypeAnnotation] != sign.CycloneDXPredicateType {
			continue
		}
		layer, _ := img.LayerByDigest(l.Digest)
		rc, _ := layer.Compressed()
		defer rc.Close()
		var env struct{ Payload []byte }
		json.NewDecoder(rc).Decode(&env)
		var st sign.Statement
		json.Unmarshal(env.Payload, &st)
		return st
	}
	t.Fatal("no SBOM attestation")
	return sign.Statement{}
}

// A failing SBOM source fails the signing and leaves the image unsigned.
func TestBuildSBOMFailure(t *testing.T) {
	ctx := context.Background()
	_, ref := setup(t, strings.Repeat("a", 64))
	k := key(t)
	o := Options{Signer: k, SBOM: func(context.Context, v1.Image) ([]byte, error) { return nil, errors.New("no sbom layer") }}
	err := Build(ctx, ref, image(t, ref), provenance.Build{}, o)
	if err == nil || !strings.Contains(err.Error(), "no sbom layer") {
		t.Fatalf("error %v", err)
	}
	r, _ := sign.Verify(ctx, ref, k, sign.Policy{})
	if ok := r.Checks[0]; ok.Name != sign.CheckSignature || ok.OK {
		t.Errorf("the image was signed though its SBOM failed: %+v", r.Checks)
	}
}
