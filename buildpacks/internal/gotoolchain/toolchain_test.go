package gotoolchain

import (
	"archive/zip"
	"context"
	"go/version"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/sumdb/dirhash"

	"github.com/kiln-build/kiln/buildpacks/internal/fetch"
)

func TestProxyFromEnv(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{"", DefaultProxy, ""},
		{"https://proxy.golang.org,direct", "https://proxy.golang.org", ""},
		{"direct,https://goproxy.example.com/", "https://goproxy.example.com", ""},
		{"https://a.example|https://b.example", "https://a.example", ""},
		{"off", "", "turns the module proxy off"},
		{"direct", "", "names no proxy"},
		{"ftp://x", "", "not an http(s) URL"},
	}
	for _, tt := range tests {
		got, err := ProxyFromEnv(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ProxyFromEnv(%q) error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ProxyFromEnv(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestSumDBFromEnv(t *testing.T) {
	tests := []struct {
		in      string
		want    *SumDB
		wantErr bool
	}{
		{"", &SumDB{Key: SumGolangOrgKey}, false},
		{"sum.golang.org", &SumDB{Key: SumGolangOrgKey}, false},
		{"off", nil, false},
		{"sum.example.com+abcd+KEY sum.example.com/db/", &SumDB{Key: "sum.example.com+abcd+KEY", URL: "https://sum.example.com/db"}, false},
		{"sum.example.com", nil, true},
	}
	for _, tt := range tests {
		got, err := SumDBFromEnv(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("SumDBFromEnv(%q) error %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("SumDBFromEnv(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
	if n := (&SumDB{Key: SumGolangOrgKey}).Name(); n != "sum.golang.org" {
		t.Errorf("Name = %q", n)
	}
}

func TestParseList(t *testing.T) {
	list := "v0.0.1-go1.22.5.linux-amd64\nv0.0.1-go1.22.10.linux-amd64\nv0.0.1-go1.22.5.linux-arm64\n" +
		"v0.0.1-go1.23rc1.linux-amd64\nv0.0.1-go1.21.0.linux-amd64\nv0.0.1-go1.22.5.linux-amd64\ngarbage\nv0.0.1-gofoo.linux-amd64\n"
	got := ParseList(list, "linux", "amd64")
	want := []string{"1.21.0", "1.22.5", "1.22.10", "1.23rc1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestModuleVersion(t *testing.T) {
	if got := ModuleVersion("1.22.5", "linux", "amd64"); got != "v0.0.1-go1.22.5.linux-amd64" {
		t.Errorf("ModuleVersion = %q", got)
	}
}

// TestLookupRealSumDB asks the real checksum database, through the Go
// module proxy, for the hash of a published toolchain.
func TestLookupRealSumDB(t *testing.T) {
	s := &Source{Proxy: DefaultProxy, SumDB: &SumDB{Key: SumGolangOrgKey}, Fetch: fetch.New("", nil)}
	got, err := s.lookup(context.Background(), "v0.0.1-go1.22.5.linux-amd64")
	if err != nil {
		t.Fatalf("checksum database lookup through %s failed (this test needs the Go module proxy): %v", DefaultProxy, err)
	}
	if want := "h1:LQChnsjY/4sr12W+7pci1Qg1+X/n7vmLOOaq2aTBG0w="; got != want {
		t.Errorf("hash %s, want %s", got, want)
	}
}

// TestInstallRejectsTamperedZip serves a fake toolchain zip from a local
// proxy while the real checksum database is consulted: the hashes differ
// and nothing is installed.
func TestInstallRejectsTamperedZip(t *testing.T) {
	zipBytes := fakeToolchainZip(t, "v0.0.1-go1.22.5.linux-amd64")
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".zip") {
			w.Write(zipBytes)
			return
		}
		http.NotFound(w, r)
	}))
	defer proxy.Close()
	s := &Source{Proxy: proxy.URL, SumDB: &SumDB{Key: SumGolangOrgKey, URL: DefaultProxy + "/sumdb/sum.golang.org"}, Fetch: fetch.New("", nil)}
	dest := filepath.Join(t.TempDir(), "go")
	err := s.Install(context.Background(), "1.22.5", "linux", "amd64", dest)
	if err == nil || !strings.Contains(err.Error(), "SECURITY ERROR") {
		t.Fatalf("error %v, want a security error", err)
	}
	if _, err := os.Stat(filepath.Join(dest, "bin", "go")); err == nil {
		t.Error("a tampered toolchain was installed")
	}
}

// TestInstallUnverified installs a fake toolchain with GOSUMDB=off and
// checks the layout and executable bits.
func TestInstallUnverified(t *testing.T) {
	zipBytes := fakeToolchainZip(t, "v0.0.1-go1.99.0.linux-amd64")
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/golang.org/toolchain/@v/v0.0.1-go1.99.0.linux-amd64.zip" {
			w.Write(zipBytes)
			return
		}
		http.NotFound(w, r)
	}))
	defer proxy.Close()
	var logs []string
	s := &Source{Proxy: proxy.URL, Fetch: fetch.New("", nil), Logf: func(f string, a ...any) { logs = append(logs, f) }}
	dest := filepath.Join(t.TempDir(), "go")
	if err := s.Install(context.Background(), "1.99.0", "linux", "amd64", dest); err != nil {
		t.Fatal(err)
	}
	for p, exec := range map[string]bool{"bin/go": true, "pkg/tool/linux_amd64/compile": true, "src/fmt/print.go": false} {
		fi, err := os.Stat(filepath.Join(dest, p))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode()&0o100 != 0; got != exec {
			t.Errorf("%s executable = %v, want %v", p, got, exec)
		}
	}
	if !strings.Contains(strings.Join(logs, "\n"), "not verified") {
		t.Errorf("no warning about the missing verification in %q", logs)
	}
	if err := s.Install(context.Background(), "1.98.0", "linux", "amd64", dest); err == nil || !strings.Contains(err.Error(), "is not on") {
		t.Errorf("installing a missing version: %v", err)
	}
}

func fakeToolchainZip(t *testing.T, modVer string) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "z.zip")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, n := range []string{"bin/go", "pkg/tool/linux_amd64/compile", "src/fmt/print.go"} {
		w, err := zw.Create("golang.org/toolchain@" + modVer + "/" + n)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("fake " + n))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzParseList(f *testing.F) {
	f.Add("v0.0.1-go1.22.5.linux-amd64\nv0.0.1-go1.23rc1.linux-amd64\n")
	f.Fuzz(func(t *testing.T, list string) {
		vs := ParseList(list, "linux", "amd64")
		for i, v := range vs {
			if !version.IsValid("go" + v) {
				t.Fatalf("invalid version %q listed", v)
			}
			if i > 0 && version.Compare("go"+vs[i-1], "go"+v) >= 0 {
				t.Fatalf("versions not strictly ascending: %q", vs)
			}
		}
	})
}

// TestPinnedFallback verifies against the pinned list when the checksum
// database cannot be reached, and fails for versions it does not list.
func TestPinnedFallback(t *testing.T) {
	pinned["v0.0.1-go1.99.1.linux-amd64"] = "h1:wrong="
	defer delete(pinned, "v0.0.1-go1.99.1.linux-amd64")
	good := fakeToolchainZip(t, ModuleVersion("1.99.2", "linux", "amd64"))
	zp := filepath.Join(t.TempDir(), "good.zip")
	os.WriteFile(zp, good, 0o644)
	h, err := dirhash.HashZip(zp, dirhash.Hash1)
	if err != nil {
		t.Fatal(err)
	}
	pinned["v0.0.1-go1.99.2.linux-amd64"] = h
	defer delete(pinned, "v0.0.1-go1.99.2.linux-amd64")
	for _, v := range []string{"1.99.0", "1.99.1", "1.99.2"} {
		zipBytes := fakeToolchainZip(t, ModuleVersion(v, "linux", "amd64"))
		proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, ".zip") {
				w.Write(zipBytes)
				return
			}
			http.NotFound(w, r) // no sumdb here
		}))
		defer proxy.Close()
		fc := fetch.New("", nil)
		fc.Attempts = 1
		s := &Source{Proxy: proxy.URL, SumDB: &SumDB{Key: SumGolangOrgKey, URL: proxy.URL + "/sumdb/sum.golang.org"}, Fetch: fc}
		err := s.Install(context.Background(), v, "linux", "amd64", filepath.Join(t.TempDir(), "go"))
		switch v {
		case "1.99.0":
			if err == nil || !strings.Contains(err.Error(), "GOSUMDB=off") {
				t.Errorf("unlisted version without a checksum database: %v", err)
			}
		case "1.99.1":
			if err == nil || !strings.Contains(err.Error(), "SECURITY ERROR") || !strings.Contains(err.Error(), "pinned") {
				t.Errorf("pinned mismatch: %v", err)
			}
		case "1.99.2":
			if err != nil {
				t.Errorf("pinned match: %v", err)
			}
		}
	}
	for k, v := range pinned {
		if !strings.HasPrefix(v, "h1:") || !strings.HasPrefix(k, "v0.0.1-go") {
			t.Errorf("bad pinned entry %s %s", k, v)
		}
	}
}
