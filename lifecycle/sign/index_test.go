package sign

import (
	"bytes"
	"context"
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

	"github.com/kiln-build/kiln/lifecycle/provenance"
)

// indexEnv is a two-platform app index in an in-process registry.
type indexEnv struct {
	reg    *testRegistry
	index  name.Digest
	images []name.Digest // amd64, arm64
	imgs   []v1.Image
}

var testPlatforms = []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}}

func newIndexEnv(t *testing.T) *indexEnv {
	t.Helper()
	e := &indexEnv{reg: newRegistry(t)}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range testPlatforms {
		img := appImage(t)
		p := p
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{MediaType: types.DockerManifestSchema2, Platform: &p}})
		e.imgs = append(e.imgs, img)
	}
	tag, err := name.NewTag(e.reg.host + "/team/multi:latest")
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
		if err := Attest(ctx, ref, key, provenance.PredicateType, provenanceOf(t, e.imgs[i], "reg.example/builder:1", builderDigest, "https://git.example/team/app")); err != nil {
			t.Fatal(err)
		}
	}
	p, err := provenance.NewIndex(ctx, provenance.Build{BuilderRef: "reg.example/builder:1", Source: &provenance.Source{}}, []provenance.ImageRef{{Ref: e.images[0]}, {Ref: e.images[1]}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := p.JSON()
	if err := Attest(ctx, e.index, key, provenance.PredicateType, body); err != nil {
		t.Fatal(err)
	}
	signed, err := SignIndex(ctx, e.index, key)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range signed {
		got = append(got, d.String())
	}
	if diff := cmp.Diff([]string{e.images[0].String(), e.images[1].String(), e.index.String()}, got); diff != "" {
		t.Errorf("SignIndex signed (-want +got):\n%s", diff)
	}
}

func (e *indexEnv) sigTag(t *testing.T, d name.Digest) name.Tag {
	t.Helper()
	tag, err := SignatureTag(d)
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

// TestSignIndexAndVerify: SignIndex stores a signature per image and one
// for the index where cosign sign --recursive does, and VerifyIndex
// passes the index and both images, the policy checked on the images.
func TestSignIndexAndVerify(t *testing.T) {
	ctx := context.Background()
	e := newIndexEnv(t)
	key := newKey(t)
	e.release(t, key)
	for _, d := range append([]name.Digest{e.index}, e.images...) {
		if n := layerCount(t, e.sigTag(t, d)); n != 1 {
			t.Errorf("%s: %d signatures, want 1", e.sigTag(t, d), n)
		}
	}
	r, err := VerifyIndex(ctx, e.index, key, Policy{Builder: "reg.example/builder:1", SourceRepo: "git.example/team/app"})
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("the signed index does not verify: %v", r.Failed())
	}
	if diff := cmp.Diff(map[string]bool{CheckSignature: true, CheckProvenance: true, CheckSubject: true}, checkNames(r.Index)); diff != "" {
		t.Errorf("index checks (-want +got):\n%s", diff)
	}
	var plats []string
	for _, im := range r.Images {
		plats = append(plats, im.Platform)
		if !checkNames(im)[CheckBuilder] || !checkNames(im)[CheckSourceRepo] {
			t.Errorf("%s: the policy was not checked: %+v", im.Platform, im.Checks)
		}
	}
	if diff := cmp.Diff([]string{"linux/amd64", "linux/arm64/v8"}, plats); diff != "" {
		t.Errorf("platforms (-want +got):\n%s", diff)
	}
	// Signing again adds nothing.
	if _, err := SignIndex(ctx, e.index, key); err != nil {
		t.Fatal(err)
	}
	if n := layerCount(t, e.sigTag(t, e.images[1])); n != 1 {
		t.Errorf("signing again: %d signatures", n)
	}
}

// TestVerifyIndexTampered: whatever is wrong with one image or the index
// fails VerifyIndex, naming the platform and the check.
func TestVerifyIndexTampered(t *testing.T) {
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
			writeImage(t, e.sigTag(t, e.images[1]), signedLayer(t, newKey(t), mustPayload(t, e.images[1])))
		}, []string{"linux/arm64/v8: signature"}},
		{"the index signature replaced by an image's", func(t *testing.T, e *indexEnv, key signature.SignerVerifier) {
			copyTag(t, e.sigTag(t, e.images[0]), e.sigTag(t, e.index))
		}, []string{"index: signature"}},
		{"the amd64 provenance over the index's", func(t *testing.T, e *indexEnv, key signature.SignerVerifier) {
			from, _ := AttestationTag(e.images[0])
			to, _ := AttestationTag(e.index)
			copyTag(t, from, to)
		}, []string{"index: provenance subject"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newIndexEnv(t)
			key := newKey(t)
			e.release(t, key)
			tc.tamper(t, e, key)
			r, err := VerifyIndex(ctx, e.index, key, Policy{})
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

func mustPayload(t *testing.T, d name.Digest) []byte {
	t.Helper()
	pl, err := Payload(d)
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

// TestVerifyIndexUnsigned: an index signed without --recursive (its
// images unsigned) fails for each image; a single image is not an index.
func TestVerifyIndexUnsigned(t *testing.T) {
	ctx := context.Background()
	e := newIndexEnv(t)
	key := newKey(t)
	if err := Sign(ctx, e.index, key); err != nil {
		t.Fatal(err)
	}
	r, err := VerifyIndex(ctx, e.index, key, Policy{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"index: provenance attestation signature", "index: provenance subject",
		"linux/amd64: signature", "linux/amd64: provenance attestation signature", "linux/amd64: provenance subject",
		"linux/arm64/v8: signature", "linux/arm64/v8: provenance attestation signature", "linux/arm64/v8: provenance subject"}
	if diff := cmp.Diff(want, r.Failed()); diff != "" {
		t.Errorf("failed checks (-want +got):\n%s", diff)
	}
	if _, err := VerifyIndex(ctx, e.images[0], key, Policy{}); err == nil || !strings.Contains(err.Error(), "not an image index") {
		t.Errorf("VerifyIndex of an image: %v", err)
	}
}

// TestIndexImagesBounds: a nested index and an index of too many entries
// are refused before any entry is read; artifacts are left out.
func TestIndexImagesBounds(t *testing.T) {
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
			for i := range maxIndexImages + 1 {
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
			got, err := IndexImages(repo, im)
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
