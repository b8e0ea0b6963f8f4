package release

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/lifecycle/provenance"
	"github.com/kiln-build/kiln/lifecycle/sign"
	"github.com/kiln-build/kiln/lifecycle/sign/signindex"
)

// pushIndex pushes an index of the images at refs (amd64, arm64) to tag
// and returns its digest reference.
func pushIndex(t *testing.T, tag string, refs ...name.Digest) name.Digest {
	t.Helper()
	plats := []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for i, r := range refs {
		p := plats[i]
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: image(t, r), Descriptor: v1.Descriptor{MediaType: types.DockerManifestSchema2, Platform: &p}})
	}
	tg, _ := name.NewTag(tag)
	if err := remote.WriteIndex(tg, idx); err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	return tg.Context().Digest(d.String())
}

// TestBuildAndRebaseIndex: every image of a built index gets its
// provenance, SBOM and signature, the index its provenance naming the
// images and its signature; a rebased index carries each platform's
// provenance over.
func TestBuildAndRebaseIndex(t *testing.T) {
	ctx := context.Background()
	host, amd := setup(t, strings.Repeat("a", 64))
	arm := push(t, host+"/team/app:arm", strings.Repeat("b", 64))
	idx := pushIndex(t, host+"/team/app:latest", amd, arm)
	k := key(t)
	var log bytes.Buffer
	o := Options{Signer: k, Log: &log, SBOM: func(context.Context, v1.Image) ([]byte, error) { return []byte(testBOM), nil }}
	b := provenance.Build{BuilderRef: "reg.example/builder:1", SourceDir: t.TempDir(), StartedOn: time.Now(), KilnVersion: "test"}
	if err := BuildIndex(ctx, idx, b, o); err != nil {
		t.Fatal(err)
	}
	r, err := signindex.Verify(ctx, idx, k, sign.Policy{Builder: "reg.example/builder:1"})
	if err != nil || !r.OK() {
		t.Fatalf("the built index does not verify: %v %v", err, r.Failed())
	}
	for _, d := range []name.Digest{amd, arm} {
		if diff := cmp.Diff([]string{provenance.PredicateType, sign.CycloneDXPredicateType}, predicateTypes(t, d)); diff != "" {
			t.Errorf("%s attestations (-want +got):\n%s", d, diff)
		}
	}
	if diff := cmp.Diff([]string{provenance.PredicateType}, predicateTypes(t, idx)); diff != "" {
		t.Errorf("index attestations (-want +got):\n%s", diff)
	}
	var deps []string
	for _, d := range r.Index.Provenance.BuildDefinition.ResolvedDependencies {
		deps = append(deps, d.Name+" "+d.URI+" "+d.Annotations["platform"])
	}
	wantDeps := []string{"builder oci://reg.example/builder:1 ", "image oci://" + amd.String() + " linux/amd64", "image oci://" + arm.String() + " linux/arm64"}
	if diff := cmp.Diff(wantDeps, deps); diff != "" {
		t.Errorf("index provenance dependencies (-want +got):\n%s", diff)
	}
	wantLog := "[linux/amd64] Attested provenance (https://slsa.dev/provenance/v1)\n[linux/amd64] Attested SBOM (https://cyclonedx.org/bom)\n[linux/amd64] Signed " + amd.String() + "\n" +
		"[linux/arm64] Attested provenance (https://slsa.dev/provenance/v1)\n[linux/arm64] Attested SBOM (https://cyclonedx.org/bom)\n[linux/arm64] Signed " + arm.String() + "\n" +
		"Attested provenance (https://slsa.dev/provenance/v1)\nSigned " + idx.String() + "\n"
	if diff := cmp.Diff(wantLog, log.String()); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}

	// Rebased: new images on new run images, in a new index.
	amd2 := push(t, host+"/team/app:amd2", strings.Repeat("c", 64))
	arm2 := push(t, host+"/team/app:arm2", strings.Repeat("d", 64))
	idx2 := pushIndex(t, host+"/team/app:latest", amd2, arm2)
	if err := RebaseIndex(ctx, idx, idx2, "test", time.Now(), o); err != nil {
		t.Fatal(err)
	}
	r, err = signindex.Verify(ctx, idx2, k, sign.Policy{Builder: "reg.example/builder:1"})
	if err != nil || !r.OK() {
		t.Fatalf("the rebased index does not verify: %v %v", err, r.Failed())
	}
	for i, want := range []name.Digest{amd, arm} {
		p := r.Images[i].Provenance
		ri, _ := p.Dependency(provenance.DepRunImage)
		if got := p.BuildDefinition.ExternalParameters.RebasedFrom; got != want.String() || ri.Digest["sha256"] != strings.Repeat([]string{"c", "d"}[i], 64) {
			t.Errorf("%s image: rebased from %s on %v, want from %s", r.Images[i].Platform, got, ri.Digest, want)
		}
	}
	if got := r.Index.Provenance.BuildDefinition.ExternalParameters; got.RebasedFrom != idx.String() || got.BuilderImage != "reg.example/builder:1" {
		t.Errorf("index provenance %+v, want rebased from %s with the builder", got, idx)
	}
}

// TestBuildIndexImageFailure: an image whose signing fails is named, and
// the index is left unsigned.
func TestBuildIndexImageFailure(t *testing.T) {
	ctx := context.Background()
	host, amd := setup(t, strings.Repeat("a", 64))
	arm := push(t, host+"/team/app:arm", strings.Repeat("b", 64))
	idx := pushIndex(t, host+"/team/app:latest", amd, arm)
	k := key(t)
	o := Options{Signer: k, SBOM: func(_ context.Context, img v1.Image) ([]byte, error) {
		if cfg, _ := img.ConfigFile(); strings.Contains(cfg.Config.Labels["io.buildpacks.lifecycle.metadata"], strings.Repeat("b", 64)) {
			return nil, errors.New("no sbom layer")
		}
		return []byte(testBOM), nil
	}}
	err := BuildIndex(ctx, idx, provenance.Build{}, o)
	if err == nil || !strings.Contains(err.Error(), "linux/arm64 image "+arm.String()) || !strings.Contains(err.Error(), "no sbom layer") {
		t.Fatalf("error %v, want one naming the arm64 image", err)
	}
	r, err := signindex.Verify(ctx, idx, k, sign.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"index: signature", "index: provenance attestation signature", "index: provenance subject",
		"linux/arm64: signature"}, r.Failed()); diff != "" {
		t.Errorf("failed checks (-want +got):\n%s", diff)
	}
}
