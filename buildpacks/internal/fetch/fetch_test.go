package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func sha256Digest(t *testing.T, s string) *Digest {
	t.Helper()
	sum := sha256.Sum256([]byte(s))
	d, err := Hex("sha256", hex.EncodeToString(sum[:]))
	if err != nil {
		t.Fatal(err)
	}
	return &d
}

// server serves body at /file, failing the first `fails` requests with
// 503, and counts requests.
func server(t *testing.T, body string, fails int32) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := n.Add(1)
		if c <= fails {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		switch r.URL.Path {
		case "/file":
			fmt.Fprint(w, body)
		case "/doc":
			if r.Header.Get("If-None-Match") == `"v1"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("ETag", `"v1"`)
			fmt.Fprint(w, body)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s, &n
}

func TestDownload(t *testing.T) {
	const body = "toolchain bytes"
	tests := []struct {
		name     string
		fails    int32
		path     string
		want     *Digest
		wantErr  string
		wantReqs int32
	}{
		{"verified", 0, "/file", sha256Digest(t, body), "", 1},
		{"no digest", 0, "/file", nil, "", 1},
		{"retried after 503", 2, "/file", sha256Digest(t, body), "", 3},
		{"gives up after 3", 5, "/file", nil, "503", 3},
		{"checksum mismatch", 0, "/file", sha256Digest(t, "other"), "checksum mismatch", 1},
		{"not found is not retried", 0, "/nope", nil, "404", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, n := server(t, body, tt.fails)
			c := New("", nil)
			c.Backoff = time.Millisecond
			dest := filepath.Join(t.TempDir(), "out")
			err := c.Download(context.Background(), s.URL+tt.path, dest, tt.want)
			if got := n.Load(); got != tt.wantReqs {
				t.Errorf("%d requests, want %d", got, tt.wantReqs)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				if _, err := os.Stat(dest); err == nil {
					t.Error("a failed download left a file")
				}
				entries, _ := os.ReadDir(filepath.Dir(dest))
				if len(entries) != 0 {
					t.Errorf("a failed download left %d files", len(entries))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(dest)
			if string(got) != body {
				t.Errorf("downloaded %q", got)
			}
		})
	}
}

func TestDownloadCache(t *testing.T) {
	const body = "node tarball"
	s, n := server(t, body, 0)
	cache := t.TempDir()
	var logs []string
	c := New(cache, func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) })
	for i := 0; i < 2; i++ {
		dest := filepath.Join(t.TempDir(), "out")
		if err := c.Download(context.Background(), s.URL+"/file", dest, sha256Digest(t, body)); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(dest); string(got) != body {
			t.Fatalf("download %d: %q", i, got)
		}
	}
	if n.Load() != 1 {
		t.Errorf("%d requests for two downloads with a cache, want 1", n.Load())
	}
	if !strings.Contains(strings.Join(logs, "\n"), "from the download cache") {
		t.Errorf("logs do not mention the cache: %q", logs)
	}
	// a cached file that no longer matches the digest is downloaded again
	dest := filepath.Join(t.TempDir(), "out")
	if err := c.Download(context.Background(), s.URL+"/file", dest, sha256Digest(t, "changed")); err == nil {
		t.Error("a digest the server's bytes do not match was accepted")
	}
	if n.Load() != 2 {
		t.Errorf("%d requests, want 2 after a digest change", n.Load())
	}
}

func TestGetRevalidates(t *testing.T) {
	s, n := server(t, "index", 0)
	c := New(t.TempDir(), nil)
	c.Backoff = time.Millisecond
	for i := 0; i < 2; i++ {
		b, err := c.Get(context.Background(), s.URL+"/doc", nil, 1<<20)
		if err != nil || string(b) != "index" {
			t.Fatalf("Get %d = %q, %v", i, b, err)
		}
	}
	if n.Load() != 2 {
		t.Errorf("%d requests, want 2", n.Load())
	}
	s.Close()
	b, err := c.Get(context.Background(), s.URL+"/doc", nil, 1<<20)
	if err != nil || string(b) != "index" {
		t.Errorf("Get with the server gone = %q, %v; want the cached copy", b, err)
	}
	c = New("", nil)
	c.Backoff = time.Millisecond
	if _, err := c.Get(context.Background(), s.URL+"/doc", nil, 1<<20); err == nil {
		t.Error("Get without cache and server succeeded")
	}
}

func TestGetLimit(t *testing.T) {
	s, _ := server(t, strings.Repeat("x", 100), 0)
	if _, err := New("", nil).Get(context.Background(), s.URL+"/file", nil, 10); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("error %v, want a size error", err)
	}
}

func TestSRI(t *testing.T) {
	tests := []struct {
		in      string
		wantAlg string
		wantErr bool
	}{
		{"sha512-OmAztarr1gK4PD+sNyoku4N5Q40d8eqMuLjNa/zRvxF33aCsVKVIQLs4V5HYPWSWWlMiTdkmbZE/6Phigma0hw==", "sha512", false},
		{"sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA= sha512-OmAztarr1gK4PD+sNyoku4N5Q40d8eqMuLjNa/zRvxF33aCsVKVIQLs4V5HYPWSWWlMiTdkmbZE/6Phigma0hw==", "sha512", false},
		{"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=?opt", "sha256", false},
		{"md5-abc", "", true},
		{"sha512-!!!", "", true},
		{"sha256-AAAA", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		d, err := SRI(tt.in)
		if (err != nil) != tt.wantErr || d.Algorithm != tt.wantAlg {
			t.Errorf("SRI(%q) = %v, %v", tt.in, d, err)
		}
	}
}

func TestHex(t *testing.T) {
	if _, err := Hex("sha256", strings.Repeat("ab", 32)); err != nil {
		t.Error(err)
	}
	for _, bad := range []struct{ alg, v string }{{"sha256", "abcd"}, {"sha256", "zz"}, {"md5", strings.Repeat("ab", 16)}} {
		if _, err := Hex(bad.alg, bad.v); err == nil {
			t.Errorf("Hex(%q, %q) succeeded", bad.alg, bad.v)
		}
	}
}

func FuzzSRI(f *testing.F) {
	f.Add("sha512-OmAztarr1gK4PD+sNyoku4N5Q40d8eqMuLjNa/zRvxF33aCsVKVIQLs4V5HYPWSWWlMiTdkmbZE/6Phigma0hw==")
	f.Add("sha1-x sha256-y")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := SRI(s)
		if err != nil {
			return
		}
		h, err := d.newHash()
		if err != nil || h.Size() != len(d.Sum) {
			t.Fatalf("SRI(%q) gave an unusable digest %v", s, d)
		}
	})
}

// TestTrustsSSLCertFile checks that downloads trust the CA bundle named by
// SSL_CERT_FILE, as they must inside kiln's build container, by running
// this test binary again with only the test server's certificate trusted.
func TestTrustsSSLCertFile(t *testing.T) {
	if url := os.Getenv("KILN_FETCH_TLS_URL"); url != "" {
		dest := filepath.Join(t.TempDir(), "out")
		if err := New("", nil).Download(context.Background(), url, dest, nil); err != nil {
			t.Fatal(err)
		}
		return
	}
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	defer s.Close()
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	if err := os.WriteFile(bundle, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(certFile string) error {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTrustsSSLCertFile$")
		cmd.Env = append(os.Environ(), "KILN_FETCH_TLS_URL="+s.URL+"/x", "SSL_CERT_FILE="+certFile, "SSL_CERT_DIR=/nonexistent")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	}
	if err := run(bundle); err != nil {
		t.Errorf("download with SSL_CERT_FILE naming the server's CA failed: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "empty.pem")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(empty); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("download with an unrelated CA bundle: %v, want a certificate error", err)
	}
}
