package signindex

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/kiln-build/kiln/internal/testutil"
	"github.com/kiln-build/kiln/lifecycle/labels"
	"github.com/kiln-build/kiln/lifecycle/provenance"
	"github.com/kiln-build/kiln/lifecycle/sign"
)

var builderDigest = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("b", 64)}

// appImage is a random image with CNB labels naming a run image and a
// buildpack.
func appImage(t *testing.T) v1.Image {
	t.Helper()
	img := testutil.RandomImage(t, 64, 1)
	cfg, _ := img.ConfigFile()
	cfg = cfg.DeepCopy()
	cfg.Config.Labels = map[string]string{
		labels.LifecycleMetadata: `{"runImage":{"image":"reg.example/run:1","reference":"reg.example/run@sha256:` + strings.Repeat("a", 64) + `"}}`,
		labels.BuildMetadata:     `{"buildpacks":[{"id":"kiln/go","version":"1.2.3"}]}`,
	}
	img, err := mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func newKey(t testing.TB) signature.SignerVerifier {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := signature.LoadECDSASignerVerifier(k, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return sv
}

// provenanceOf is a provenance of img built with reg.example/builder:1
// from a git remote.
func provenanceOf(t *testing.T, img v1.Image) []byte {
	t.Helper()
	p, err := provenance.New(context.Background(), provenance.Build{BuilderRef: "reg.example/builder:1", BuilderDigest: builderDigest, KilnVersion: "test"}, img)
	if err != nil {
		t.Fatal(err)
	}
	p.BuildDefinition.ExternalParameters.Source.Git = &provenance.GitSource{Commit: strings.Repeat("c", 40), Remote: "https://git.example/team/app"}
	b, err := p.JSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func layerCount(t *testing.T, tag name.Tag) int {
	t.Helper()
	img, err := remote.Image(tag)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	return len(ls)
}

func checkNames(r *sign.Report) map[string]bool {
	m := map[string]bool{}
	for _, c := range r.Checks {
		m[c.Name] = c.OK
	}
	return m
}

// indexEnv is a two-platform app index in an in-process registry.
type indexEnv struct {
	reg    *testutil.Registry
	index  name.Digest
	images []name.Digest // amd64, arm64
	imgs   []v1.Image
}

var testPlatforms = []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}}

func newIndexEnv(t *testing.T) *indexEnv {
	t.Helper()
	e := &indexEnv{reg: testutil.NewRegistry(t)}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range testPlatforms {
		img := appImage(t)
		p := p
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{MediaType: types.DockerManifestSchema2, Platform: &p}})
		e.imgs = append(e.imgs, img)
	}
	tag, err := name.NewTag(e.reg.Host + "/team/multi:latest")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(tag, idx); err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	e.index = tag.Context().Digest(d.String())
	for _, img := range e.imgs {
		d, _ := img.Digest()
		e.images = append(e.images, tag.Context().Digest(d.String()))
	}
	return e
}

// release signs the index as kiln build does: each image's provenance
// and signature, then the index's.
func (e *indexEnv) release(t *testing.T, key signature.Signer) {
	t.Helper()
	ctx := context.Background()
	for i, ref := range e.images {
		if err := sign.Attest(ctx, ref, key, provenance.PredicateType, provenanceOf(t, e.imgs[i])); err != nil {
			t.Fatal(err)
		}
	}
	p, err := provenance.NewIndex(ctx, provenance.Build{BuilderRef: "reg.example/builder:1", Source: &provenance.Source{}}, []provenance.ImageRef{{Ref: e.images[0]}, {Ref: e.images[1]}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := p.JSON()
	if err := sign.Attest(ctx, e.index, key, provenance.PredicateType, body); err != nil {
		t.Fatal(err)
	}
	signed, err := Sign(ctx, e.index, key)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range signed {
		got = append(got, d.String())
	}
	if diff := cmp.Diff([]string{e.images[0].String(), e.images[1].String(), e.index.String()}, got); diff != "" {
		t.Errorf("Sign signed (-want +got):\n%s", diff)
	}
}

func (e *indexEnv) sigTag(t *testing.T, d name.Digest) name.Tag {
	t.Helper()
	tag, err := sign.SignatureTag(d)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

// copyTag writes the image at from over to.
func copyTag(t *testing.T, from, to name.Tag) {
	t.Helper()
	img, err := remote.Image(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(to, img); err != nil {
		t.Fatal(err)
	}
}

// TestSignAndVerify: Sign stores a signature per image and one
// for the index where cosign sign --recursive does, and Verify
// passes the index and both images, the policy checked on the images.
func TestSignAndVerify(t *testing.T) {
	ctx := context.Background()
	e := newIndexEnv(t)
	key := newKey(t)
	e.release(t, key)
	for _, d := range append([]name.Digest{e.index}, e.images...) {
		if n := layerCount(t, e.sigTag(t, d)); n != 1 {
			t.Errorf("%s: %d signatures, want 1", e.sigTag(t, d), n)
		}
	}
	r, err := Verify(ctx, e.index, key, sign.Policy{Builder: "reg.example/builder:1", SourceRepo: "git.example/team/app"})
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("the signed index does not verify: %v", r.Failed())
	}
	if diff := cmp.Diff(map[string]bool{sign.CheckSignature: true, sign.CheckProvenance: true, sign.CheckSubject: true}, checkNames(r.Index)); diff != "" {
		t.Errorf("index checks (-want +got):\n%s", diff)
	}
	var plats []string
	for _, im := range r.Images {
		plats = append(plats, im.Platform)
		if !checkNames(im.Report)[sign.CheckBuilder] || !checkNames(im.Report)[sign.CheckSourceRepo] {
			t.Errorf("%s: the policy was not checked: %+v", im.Platform, im.Checks)
		}
	}
	if diff := cmp.Diff([]string{"linux/amd64", "linux/arm64/v8"}, plats); diff != "" {
		t.Errorf("platforms (-want +got):\n%s", diff)
	}
	// Signing again adds nothing.
	if _, err := Sign(ctx, e.index, key); err != nil {
		t.Fatal(err)
	}
	if n := layerCount(t, e.sigTag(t, e.images[1])); n != 1 {
		t.Errorf("signing again: %d signatures", n)
	}
}

// TestVerifyTampered: whatever is wrong with one image or the index
// fails Verify, naming the platform and the check.
func TestVerifyTampered(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, e *indexEnv, key signature.SignerVerifier)
		want   []string
	}{
		{"the amd64 signature over the arm64 one", func(t *testing.T, e *indexEnv, key signature.SignerVerifier) {
			copyTag(t, e.sigTag(t, e.images[0]), e.sigTag(t, e.images[1]))
		}, []string{"linux/arm64/v8: signature"}},
		{"the arm64 image signed by another key", func(t *testing.T, e *indexEnv, key signature.SignerVerifier) {
			// the same image in another repository, signed there by
			// another key, and that signature image copied over
			other, _ := name.NewTag(e.reg.Host + "/team/copy:latest")
			if err := remote.Write(other, e.imgs[1]); err != nil {
				t.Fatal(err)
			}
			od := other.Context().Digest(e.images[1].DigestStr())
			if err := sign.Sign(context.Background(), od, newKey(t)); err != nil {
				t.Fatal(err)
			}
			copyTag(t, e.sigTag(t, od), e.sigTag(t, e.images[1]))
		}, []string{"linux/arm64/v8: signature"}},
		{"the index signature replaced by an image's", func(t *testing.T, e *indexEnv, key signature.SignerVerifier) {
			copyTag(t, e.sigTag(t, e.images[0]), e.sigTag(t, e.index))
		}, []string{"index: signature"}},
		{"the amd64 provenance over the index's", func(t *testing.T, e *indexEnv, key signature.SignerVerifier) {
			from, _ := sign.AttestationTag(e.images[0])
			to, _ := sign.AttestationTag(e.index)
			copyTag(t, from, to)
		}, []string{"index: provenance subject"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newIndexEnv(t)
			key := newKey(t)
			e.release(t, key)
			tc.tamper(t, e, key)
			r, err := Verify(ctx, e.index, key, sign.Policy{})
			if err != nil {
				t.Fatal(err)
			}
			if r.OK() {
				t.Fatal("the tampered index verifies")
			}
			if diff := cmp.Diff(tc.want, r.Failed()); diff != "" {
				t.Errorf("failed checks (-want +got):\n%s", diff)
			}
		})
	}
}

// TestVerifyUnsigned: an index signed without --recursive (its
// images unsigned) fails for each image; a single image is not an index.
func TestVerifyUnsigned(t *testing.T) {
	ctx := context.Background()
	e := newIndexEnv(t)
	key := newKey(t)
	if err := sign.Sign(ctx, e.index, key); err != nil {
		t.Fatal(err)
	}
	r, err := Verify(ctx, e.index, key, sign.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"index: provenance attestation signature", "index: provenance subject",
		"linux/amd64: signature", "linux/amd64: provenance attestation signature", "linux/amd64: provenance subject",
		"linux/arm64/v8: signature", "linux/arm64/v8: provenance attestation signature", "linux/arm64/v8: provenance subject"}
	if diff := cmp.Diff(want, r.Failed()); diff != "" {
		t.Errorf("failed checks (-want +got):\n%s", diff)
	}
	if _, err := Verify(ctx, e.images[0], key, sign.Policy{}); err == nil || !strings.Contains(err.Error(), "not an image index") {
		t.Errorf("VerifyIndex of an image: %v", err)
	}
}

// TestImagesBounds: a nested index and an index of too many entries
// are refused before any entry is read; artifacts are left out.
func TestImagesBounds(t *testing.T) {
	repo, _ := name.NewRepository("reg.example/app")
	entry := func(mt types.MediaType, i int) v1.Descriptor {
		return v1.Descriptor{MediaType: mt, Size: 100, Digest: v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%064x", i)}}
	}
	for _, tc := range []struct {
		name    string
		entries []v1.Descriptor
		want    int
		wantErr string
	}{
		{"images and an artifact", []v1.Descriptor{entry(types.OCIManifestSchema1, 1), entry("application/vnd.example.artifact", 2), entry(types.DockerManifestSchema2, 3)}, 2, ""},
		{"nested index", []v1.Descriptor{entry(types.OCIManifestSchema1, 1), entry(types.OCIImageIndex, 2)}, 0, "holds another index"},
		{"too many", func() []v1.Descriptor {
			var ds []v1.Descriptor
			for i := range maxImages + 1 {
				ds = append(ds, entry(types.OCIManifestSchema1, i))
			}
			return ds
		}(), 0, "more than 1000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, _ := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: tc.entries})
			im, err := v1.ParseIndexManifest(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Images(repo, im)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(got) != tc.want {
				t.Fatalf("%d images, %v; want %d", len(got), err, tc.want)
			}
		})
	}
}
