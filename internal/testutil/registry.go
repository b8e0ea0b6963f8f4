package testutil

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
)

// Registry is go-containerregistry's in-process registry, served over
// plain HTTP on 127.0.0.1 until the test ends, with a record of the blobs
// it sent and received.
type Registry struct {
	// Host is the registry's host:port, to prefix repositories with.
	Host string

	mu       sync.Mutex
	blobGets []string // digests of blobs sent to a client
	uploads  []string // digests of blob uploads that finished
}

// NewRegistry starts a registry that logs nothing.
func NewRegistry(t testing.TB) *Registry {
	t.Helper()
	r := &Registry{}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.record(req)
		reg.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.Host = strings.TrimPrefix(srv.URL, "http://")
	return r
}

func (r *Registry) record(req *http.Request) {
	p := req.URL.Path
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case req.Method == http.MethodGet && strings.Contains(p, "/blobs/sha256:"):
		r.blobGets = append(r.blobGets, p[strings.LastIndex(p, "/")+1:])
	case (req.Method == http.MethodPut || req.Method == http.MethodPost) && strings.Contains(p, "/blobs/uploads") && req.URL.Query().Get("digest") != "":
		r.uploads = append(r.uploads, req.URL.Query().Get("digest"))
	}
}

// Reset forgets the blobs sent and received so far.
func (r *Registry) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.blobGets, r.uploads = nil, nil
}

// Seen returns the digests of the blobs sent to clients and of the blob
// uploads that finished, in order, since the start or the last Reset.
func (r *Registry) Seen() (gets, uploads []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.blobGets...), append([]string(nil), r.uploads...)
}
