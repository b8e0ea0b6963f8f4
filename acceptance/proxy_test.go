//go:build acceptance

package acceptance

import (
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"strings"
	"sync"
	"sync/atomic"
)

// countingProxy sits in front of the registry and counts the blob bytes
// pushed through it (PATCH and PUT bodies of blob uploads) and fetched
// (GET of blobs), so benchmarks report what really moved; it also names
// the blobs fetched.
type countingProxy struct {
	Host       string
	uploaded   atomic.Int64
	downloaded atomic.Int64
	srv        *http.Server

	mu      sync.Mutex
	fetched []string // digests of the blobs fetched (GET), in order
}

func startCountingProxy(target string) (*countingProxy, error) {
	u, err := url.Parse("http://" + target)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &countingProxy{Host: l.Addr().String()}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method == http.MethodPatch || r.Method == http.MethodPut) && strings.Contains(r.URL.Path, "/blobs/uploads/") && r.Body != nil {
			r.Body = &countingBody{ReadCloser: r.Body, n: &p.uploaded}
		}
		// Location headers from the registry name its own address; the
		// client follows them relative to us because the proxy rewrites
		// nothing else: the registry builds them from the Host header.
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:") {
			w = &countingWriter{ResponseWriter: w, n: &p.downloaded}
			p.mu.Lock()
			p.fetched = append(p.fetched, path.Base(r.URL.Path))
			p.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	})}
	go p.srv.Serve(l)
	return p, nil
}

// Uploaded is the number of blob bytes pushed so far.
func (p *countingProxy) Uploaded() int64 { return p.uploaded.Load() }

// Fetched returns the digests of the blobs fetched since the last call.
func (p *countingProxy) Fetched() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.fetched
	p.fetched = nil
	return f
}

// Downloaded is the number of blob bytes fetched so far.
func (p *countingProxy) Downloaded() int64 { return p.downloaded.Load() }

func (p *countingProxy) Close() { p.srv.Close() }

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n.Add(int64(n))
	return n, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countingBody) Read(b []byte) (int, error) {
	n, err := c.ReadCloser.Read(b)
	c.n.Add(int64(n))
	return n, err
}
