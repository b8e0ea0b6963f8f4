package debian

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/buildpacks/internal/fetch"
)

const sample = `Package: python3.11
Version: 3.11.2-6+deb12u8
Architecture: amd64
Depends: python3.11-minimal (= 3.11.2-6+deb12u8), libpython3.11-stdlib (= 3.11.2-6+deb12u8), media-types | mime-support
Description: Interactive language
 continued description
Priority: optional
Filename: pool/main/p/python3.11/python3.11_3.11.2-6+deb12u8_amd64.deb
Size: 574236
SHA256: cd7b10c24281416a6acb22cd23ed7391c7dddd4a3d4d4a63d37faa786639b5de

Package: python3.11-minimal
Version: 3.11.2-6+deb12u8
Pre-Depends: libc6 (>= 2.36)
Depends: libpython3.11-minimal (= 3.11.2-6+deb12u8), libexpat1 (>= 2.1~beta3), zlib1g (>= 1:1.2.0)

Package: libpython3.11-minimal
Depends: libc6, libssl3 (>= 3.0.0)

Package: libpython3.11-stdlib
Depends: libpython3.11-minimal, libffi8, mime-support | media-types, tzdata:all

Package: libexpat1
Depends: libc6

Package: zlib1g
Essential: yes
Depends: libc6

Package: libssl3
Depends: libc6

Package: libffi8

Package: tzdata
Depends: debconf (>= 0.5) | debconf-2.0

Package: debconf
Essential: yes

Package: cdebconf
Provides: debconf-2.0

Package: media-types

Package: libc6
Depends: libgcc-s1

Package: libgcc-s1
Depends: gcc-12-base, libc6

Package: gcc-12-base

Package: libstdc++6
Depends: gcc-12-base, libc6, libgcc-s1
Provides: libstdc++

Package: media-types
Version: duplicate stanza is ignored
`

func TestParsePackages(t *testing.T) {
	ix, err := ParsePackages(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	p, ok := ix.Lookup("python3.11")
	if !ok {
		t.Fatal("python3.11 missing")
	}
	want := &Package{
		Name: "python3.11", Version: "3.11.2-6+deb12u8", Arch: "amd64",
		Filename: "pool/main/p/python3.11/python3.11_3.11.2-6+deb12u8_amd64.deb", Size: 574236,
		SHA256:   "cd7b10c24281416a6acb22cd23ed7391c7dddd4a3d4d4a63d37faa786639b5de",
		Depends:  "python3.11-minimal (= 3.11.2-6+deb12u8), libpython3.11-stdlib (= 3.11.2-6+deb12u8), media-types | mime-support",
		Priority: "optional",
	}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if p, ok := ix.Lookup("libstdc++"); !ok || p.Name != "libstdc++6" {
		t.Errorf("virtual package lookup = %v, %v", p, ok)
	}
	if mt, _ := ix.Lookup("media-types"); mt.Version != "" {
		t.Errorf("the second media-types stanza replaced the first: %+v", mt)
	}
	for _, bad := range []string{"Version: 1\n", "Package: a\n continuation\nnot a field\n", " leading continuation\n", "Package: a\nSize: x\n"} {
		if _, err := ParsePackages(strings.NewReader(bad)); err == nil {
			t.Errorf("ParsePackages(%q) succeeded", bad)
		}
	}
}

func TestResolve(t *testing.T) {
	ix, err := ParsePackages(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		roots   []string
		want    []string
		wantErr string
	}{
		{
			roots: []string{"python3.11"},
			// libc6, libgcc-s1, gcc-12-base and the Essential debconf are left
			// to the run image; the Essential library zlib1g is not
			want: []string{"libexpat1", "libffi8", "libpython3.11-minimal", "libpython3.11-stdlib", "libssl3", "media-types", "python3.11", "python3.11-minimal", "tzdata", "zlib1g"},
		},
		{roots: []string{"libstdc++6"}, want: []string{"libstdc++6"}},
		{roots: []string{"libc6"}, want: []string{}},
		{roots: []string{"nope"}, wantErr: "not in the index"},
	}
	for _, tt := range tests {
		got, err := ix.Resolve(tt.roots, BaseSystem)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Resolve(%v) error %v, want %q", tt.roots, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		names := []string{}
		for _, p := range got {
			names = append(names, p.Name)
		}
		if diff := cmp.Diff(tt.want, names); diff != "" {
			t.Errorf("Resolve(%v) (-want +got):\n%s", tt.roots, diff)
		}
	}
	broken, _ := ParsePackages(strings.NewReader("Package: a\nDepends: b | c\n"))
	if _, err := broken.Resolve([]string{"a"}, nil); err == nil || !strings.Contains(err.Error(), "depends on b | c") {
		t.Errorf("missing dependency error = %v", err)
	}
}

func FuzzParsePackages(f *testing.F) {
	f.Add(sample)
	f.Fuzz(func(t *testing.T, s string) {
		ix, err := ParsePackages(strings.NewReader(s))
		if err != nil {
			return
		}
		for name := range ix.byName {
			if _, err := ix.Resolve([]string{name}, BaseSystem); err != nil && !strings.Contains(err.Error(), "does not have") {
				t.Fatalf("unexpected resolve error: %v", err)
			}
		}
	})
}

func TestParseRelease(t *testing.T) {
	rel := "Origin: Debian\nAcquire-By-Hash: yes\nMD5Sum:\n 0123 10 main/binary-amd64/Packages.xz\nSHA256:\n abcd 1234 main/binary-amd64/Packages.xz\n ef01 99 main/binary-amd64/Packages\n"
	r, err := parseRelease([]byte(rel))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]fileSum{
		"main/binary-amd64/Packages.xz": {"main/binary-amd64/Packages.xz", "abcd", 1234},
		"main/binary-amd64/Packages":    {"main/binary-amd64/Packages", "ef01", 99},
	}
	if diff := cmp.Diff(want, r.files, cmp.AllowUnexported(fileSum{})); diff != "" || !r.byHash {
		t.Errorf("byHash %v, files (-want +got):\n%s", r.byHash, diff)
	}
	if _, err := parseRelease([]byte("SHA256:\n abcd x file\n")); err == nil {
		t.Error("bad size accepted")
	}
	if _, err := parseRelease([]byte("Origin: x\n")); err == nil {
		t.Error("a release without SHA256 accepted")
	}
}

func TestArMember(t *testing.T) {
	var ar bytes.Buffer
	ar.WriteString("!<arch>\n")
	member := func(name, body string) {
		fmt.Fprintf(&ar, "%-16s%-12s%-6s%-6s%-8s%-10d`\n", name, "0", "0", "0", "100644", len(body))
		ar.WriteString(body)
		if len(body)%2 == 1 {
			ar.WriteByte('\n')
		}
	}
	member("debian-binary", "2.0\n")
	member("control.tar.xz", "odd")
	member("data.tar.xz", "DATA")
	r, err := arMember(bytes.NewReader(ar.Bytes()), "data.tar")
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	got.ReadFrom(r)
	if got.String() != "DATA" {
		t.Errorf("member %q", got.String())
	}
	if _, err := arMember(bytes.NewReader(ar.Bytes()), "nope"); err == nil {
		t.Error("missing member found")
	}
	if _, err := arMember(strings.NewReader("not ar"), "data"); err == nil {
		t.Error("garbage accepted")
	}
}

func testCache(t *testing.T) string {
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(home, ".cache", "kiln-test", "downloads")
}

// TestRealArchive reads bookworm's index from Debian's mirror, checks its
// signature with gpgv, and installs libstdc++6 into a directory.
func TestRealArchive(t *testing.T) {
	a := &Archive{Suite: "bookworm", Arch: "amd64", Fetch: fetch.New(testCache(t), nil)}
	ix, err := a.Index(context.Background())
	if err != nil {
		t.Fatalf("reading bookworm from %s (this test needs Debian's mirror, gpgv and debian-archive-keyring): %v", DefaultMirror, err)
	}
	pkgs, err := ix.Resolve([]string{"libstdc++6"}, BaseSystem)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 1 || pkgs[0].Name != "libstdc++6" {
		t.Fatalf("libstdc++6 resolves to %v", pkgs)
	}
	dest := t.TempDir()
	if err := a.Install(context.Background(), pkgs, dest, DocPaths); err != nil {
		t.Fatal(err)
	}
	matches, _ := filepath.Glob(filepath.Join(dest, "usr/lib/x86_64-linux-gnu/libstdc++.so.6*"))
	if len(matches) < 2 {
		t.Errorf("libstdc++.so.6 not installed: %v", matches)
	}
	if _, err := os.Stat(filepath.Join(dest, "usr/share/doc")); err == nil {
		t.Error("documentation was installed")
	}
	py, err := ix.Resolve([]string{"python3.11"}, BaseSystem)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range py {
		if p.Name == "libc6" || p.Essential {
			t.Errorf("python3.11's closure includes base package %s", p.Name)
		}
	}
}

// TestTamperedRelease serves a modified InRelease: gpgv must refuse it.
func TestTamperedRelease(t *testing.T) {
	real, err := fetch.New(testCache(t), nil).Get(context.Background(), DefaultMirror+"/dists/bookworm/InRelease", nil, 16<<20)
	if err != nil {
		t.Fatalf("fetching InRelease (this test needs Debian's mirror): %v", err)
	}
	tampered := bytes.Replace(real, []byte("Debian"), []byte("Evilan"), 1)
	mirror := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(tampered) }))
	defer mirror.Close()
	a := &Archive{Mirror: mirror.URL, Suite: "bookworm", Arch: "amd64", Fetch: fetch.New("", nil)}
	if _, err := a.Index(context.Background()); err == nil || !strings.Contains(err.Error(), "SECURITY ERROR") {
		t.Errorf("tampered InRelease: %v, want a security error", err)
	}
	a.Keyring = filepath.Join(t.TempDir(), "none.gpg")
	if _, err := a.Index(context.Background()); err == nil || !strings.Contains(err.Error(), "keyring") {
		t.Errorf("missing keyring: %v", err)
	}
}
