package staticserve

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func site(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var bigCSS = strings.Repeat("body { color: red; }\n", 100)

func TestHandler(t *testing.T) {
	root := site(t, map[string]string{
		"index.html":           "<h1>home</h1>",
		"about.html":           "<h1>about</h1>",
		"docs/index.html":      "<h1>docs</h1>",
		"empty/readme.txt":     "x",
		"404.html":             "<h1>missing</h1>",
		"app.3f9a8b7c.css":     bigCSS,
		"style.css":            bigCSS,
		"pre.js":               strings.Repeat("console.log(1);\n", 50),
		".env":                 "SECRET=1",
		".git/config":          "x",
		".well-known/security": "contact",
		"img.png":              "\x89PNG\r\n\x1a\nrest",
	})
	// a precompressed variant
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("PRECOMPRESSED"))
	zw.Close()
	if err := os.WriteFile(filepath.Join(root, "pre.js.gz"), gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	// a link out of the root must not be followed
	outside := filepath.Join(t.TempDir(), "secret.txt")
	os.WriteFile(outside, []byte("secret"), 0o644)
	os.Symlink(outside, filepath.Join(root, "leak.txt"))

	h, err := New(Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()

	tests := []struct {
		name       string
		method     string
		path       string
		gzip       bool
		wantStatus int
		wantBody   string
		wantHeader map[string]string
	}{
		{name: "index", path: "/", wantStatus: 200, wantBody: "<h1>home</h1>", wantHeader: map[string]string{"Cache-Control": "no-cache", "Content-Type": "text/html; charset=utf-8"}},
		{name: "pretty url", path: "/about", wantStatus: 200, wantBody: "<h1>about</h1>"},
		{name: "directory index", path: "/docs/", wantStatus: 200, wantBody: "<h1>docs</h1>"},
		{name: "directory without slash", path: "/docs", wantStatus: 200, wantBody: "<h1>docs</h1>"},
		{name: "directory without index", path: "/empty/", wantStatus: 404, wantBody: "<h1>missing</h1>"},
		{name: "missing", path: "/nope", wantStatus: 404, wantBody: "<h1>missing</h1>", wantHeader: map[string]string{"Cache-Control": "no-cache"}},
		{name: "dot file", path: "/.env", wantStatus: 404},
		{name: "dot dir", path: "/.git/config", wantStatus: 404},
		{name: "well-known", path: "/.well-known/security", wantStatus: 200, wantBody: "contact"},
		{name: "traversal", path: "/../../etc/passwd", wantStatus: 404},
		{name: "link out of root", path: "/leak.txt", wantStatus: 404},
		{name: "fingerprinted is immutable", path: "/app.3f9a8b7c.css", wantStatus: 200, wantBody: bigCSS, wantHeader: map[string]string{"Cache-Control": "public, max-age=31536000, immutable"}},
		{name: "plain asset", path: "/style.css", wantStatus: 200, wantBody: bigCSS, wantHeader: map[string]string{"Cache-Control": "public, max-age=300", "Content-Type": "text/css; charset=utf-8"}},
		{name: "gzip on the fly", path: "/style.css", gzip: true, wantStatus: 200, wantBody: bigCSS, wantHeader: map[string]string{"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}},
		{name: "precompressed", path: "/pre.js", gzip: true, wantStatus: 200, wantBody: "PRECOMPRESSED", wantHeader: map[string]string{"Content-Encoding": "gzip"}},
		{name: "small file not gzipped", path: "/about.html", gzip: true, wantStatus: 200, wantBody: "<h1>about</h1>", wantHeader: map[string]string{"Content-Encoding": ""}},
		{name: "binary not gzipped", path: "/img.png", gzip: true, wantStatus: 200, wantHeader: map[string]string{"Content-Encoding": "", "Content-Type": "image/png"}},
		{name: "post refused", method: "POST", path: "/", wantStatus: 405},
		{name: "head", method: "HEAD", path: "/", wantStatus: 200, wantBody: ""},
	}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "GET"
			}
			req, _ := http.NewRequest(method, srv.URL+tt.path, nil)
			if tt.gzip {
				req.Header.Set("Accept-Encoding", "gzip, br")
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body io.Reader = resp.Body
			if resp.Header.Get("Content-Encoding") == "gzip" {
				zr, err := gzip.NewReader(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				body = zr
			}
			b, _ := io.ReadAll(body)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantBody != "" || method == "HEAD" {
				if string(b) != tt.wantBody {
					t.Errorf("body %q, want %q", b, tt.wantBody)
				}
			}
			for k, v := range tt.wantHeader {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if resp.StatusCode == 200 && resp.Header.Get("ETag") == "" {
				t.Error("no ETag")
			}
			if resp.Header.Get("Last-Modified") != "" {
				t.Error("Last-Modified is set from a meaningless file time")
			}
		})
	}
}

func TestConditionalRequests(t *testing.T) {
	root := site(t, map[string]string{"index.html": "v1", "style.css": bigCSS})
	h, err := New(Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	get := func(path, etag string, gz bool) *http.Response {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		if gz {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for _, gz := range []bool{false, true} {
		first := get("/style.css", "", gz)
		etag := first.Header.Get("ETag")
		if second := get("/style.css", etag, gz); second.StatusCode != http.StatusNotModified {
			t.Errorf("gzip=%v: revalidation with %s gave %d, want 304", gz, etag, second.StatusCode)
		}
	}
	plain := get("/style.css", "", false).Header.Get("ETag")
	zipped := get("/style.css", "", true).Header.Get("ETag")
	if plain == zipped {
		t.Error("the gzipped and plain variants share an ETag")
	}
	old := get("/", "", false).Header.Get("ETag")
	if err := os.WriteFile(filepath.Join(root, "index.html"), []byte("v2 longer"), 0o644); err != nil {
		t.Fatal(err)
	}
	resp := get("/", old, false)
	if resp.StatusCode != 200 || resp.Header.Get("ETag") == old {
		t.Errorf("after a change: status %d, etag %s (old %s)", resp.StatusCode, resp.Header.Get("ETag"), old)
	}
}

func TestSPAAndPlain404(t *testing.T) {
	root := site(t, map[string]string{"index.html": "app"})
	h, err := New(Options{Root: root, SPA: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	for path, want := range map[string]int{"/users/42": 200, "/missing.js": 404} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: status %d, want %d", path, resp.StatusCode, want)
		}
		if want == 200 && string(b) != "app" {
			t.Errorf("%s: body %q", path, b)
		}
		if want == 404 && !strings.Contains(string(b), "404 page not found") {
			t.Errorf("%s: body %q", path, b)
		}
	}
	if _, err := New(Options{Root: filepath.Join(root, "none")}); err == nil {
		t.Error("New with a missing root succeeded")
	}
}

func TestIsFingerprinted(t *testing.T) {
	for name, want := range map[string]bool{
		"app.3f9a8b7c.js":        true,
		"main-B7xQ2k9Z.css":      true,
		"chunk.12345678.js":      true,
		"style.css":              false,
		"jquery-3.7.1.min.js":    false,
		"bootstrap.bundle.js":    false,
		"index.html":             false,
		"background.deadbeef.js": false,
		"x.3f9a8b7c":             false,
	} {
		if got := isFingerprinted(name); got != want {
			t.Errorf("isFingerprinted(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"gzip":           true,
		"br, gzip;q=0.5": true,
		"gzip;q=0":       false,
		"gzip; q=0.0":    false,
		"deflate":        false,
		"":               false,
		"GZIP;Q=1":       true,
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		r.Header.Set("Accept-Encoding", header)
		if got := acceptsGzip(r); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", header, got, want)
		}
	}
}

// FuzzServe sends arbitrary paths and checks that nothing outside the
// root or hidden is ever served.
func FuzzServe(f *testing.F) {
	for _, p := range []string{"/", "/../secret.txt", "/.env", "/a/../../secret.txt", "/%2e%2e/secret.txt", "//secret.txt"} {
		f.Add(p)
	}
	base := f.TempDir()
	root := filepath.Join(base, "site")
	os.MkdirAll(root, 0o755)
	os.WriteFile(filepath.Join(root, "index.html"), []byte("home"), 0o644)
	os.WriteFile(filepath.Join(root, ".env"), []byte("SECRET"), 0o644)
	os.WriteFile(filepath.Join(base, "secret.txt"), []byte("SECRET"), 0o644)
	h, err := New(Options{Root: root})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, p string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.URL.Path = p
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if strings.Contains(rec.Body.String(), "SECRET") {
			t.Fatalf("path %q served a secret", p)
		}
	})
}
