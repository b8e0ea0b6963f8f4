package sign

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/kiln-build/kiln/lifecycle/labels"
	"github.com/kiln-build/kiln/lifecycle/provenance"
)

// testRegistry is an in-process registry whose manifest PUTs can be made
// to fail, and which counts the blobs read from it.
type testRegistry struct {
	host         string
	failManifest atomic.Bool
	blobGets     atomic.Int64
}

func newRegistry(t *testing.T) *testRegistry {
	t.Helper()
	r := &testRegistry{}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.failManifest.Load() && req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/manifests/") {
			http.Error(w, "injected failure", http.StatusInternalServerError)
			return
		}
		if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/") {
			r.blobGets.Add(1)
		}
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.host = strings.TrimPrefix(srv.URL, "http://")
	return r
}

// push writes img to repo:latest and returns its digest reference.
func (r *testRegistry) push(t *testing.T, repo string, img v1.Image) name.Digest {
	t.Helper()
	tag, err := name.NewTag(r.host + "/" + repo + ":latest")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return tag.Context().Digest(d.String())
}

// appImage is a random image with CNB labels naming a run image and a
// buildpack.
func appImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := img.ConfigFile()
	cfg = cfg.DeepCopy()
	cfg.Config.Labels = map[string]string{
		labels.LifecycleMetadata: `{"runImage":{"image":"reg.example/run:1","reference":"reg.example/run@sha256:` + strings.Repeat("a", 64) + `"}}`,
		labels.BuildMetadata:     `{"buildpacks":[{"id":"kiln/go","version":"1.2.3"}]}`,
	}
	img, err = mutate.ConfigFile(img, cfg)
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

// provenanceOf is a provenance of img built with builder from a git
// remote.
func provenanceOf(t *testing.T, img v1.Image, builder string, builderDigest v1.Hash, remote string) []byte {
	t.Helper()
	p, err := provenance.New(context.Background(), provenance.Build{BuilderRef: builder, BuilderDigest: builderDigest, KilnVersion: "test"}, img)
	if err != nil {
		t.Fatal(err)
	}
	p.BuildDefinition.ExternalParameters.Source.Git = &provenance.GitSource{Commit: strings.Repeat("c", 40), Remote: remote}
	b, err := p.JSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// layerCount is the number of layers of the image at tag.
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

func checkNames(r *Report) map[string]bool {
	m := map[string]bool{}
	for _, c := range r.Checks {
		m[c.Name] = c.OK
	}
	return m
}

func detail(r *Report, check string) string {
	for _, c := range r.Checks {
		if c.Name == check {
			return c.Detail
		}
	}
	return ""
}
