package debian

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/stacks/debian/dpkg"
	"github.com/kiln-build/kiln/stacks/debian/rootfs"
)

// fakeEntry is one entry of a small hand-made root file system.
type fakeEntry struct {
	typ  byte
	name string
	body string
	link string
	mode int64
	gid  int
}

func changelogGz(t *testing.T, date string) string {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	io.WriteString(zw, "pkg (1.0) unstable; urgency=low\n\n  * Entry.\n\n -- Someone <someone@example.org>  "+date+"\n")
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// smallRootfs is shaped like mmdebstrap output: "./" names, device nodes
// first, host files, caches and logs.
func smallRootfs(t *testing.T) []fakeEntry {
	return []fakeEntry{
		{typ: tar.TypeDir, name: "./dev/", mode: 0o755},
		{typ: tar.TypeChar, name: "./dev/null", mode: 0o666},
		{typ: tar.TypeSymlink, name: "./dev/fd", link: "/proc/self/fd"},
		{typ: tar.TypeDir, name: "./dev/pts/", mode: 0o755},
		{typ: tar.TypeDir, name: "./", mode: 0o755},
		{typ: tar.TypeSymlink, name: "./bin", link: "usr/bin"},
		{typ: tar.TypeDir, name: "./etc/", mode: 0o755},
		{typ: tar.TypeReg, name: "./etc/group", body: "root:x:0:\nusers:x:100:\n", mode: 0o644},
		{typ: tar.TypeReg, name: "./etc/hostname", body: "buildhost\n", mode: 0o755},
		{typ: tar.TypeReg, name: "./etc/machine-id", body: "0123456789abcdef\n", mode: 0o444},
		{typ: tar.TypeSymlink, name: "./etc/os-release", link: "../usr/lib/os-release"},
		{typ: tar.TypeReg, name: "./etc/passwd", body: "root:x:0:0:root:/root:/bin/bash\n", mode: 0o644},
		{typ: tar.TypeReg, name: "./etc/resolv.conf", body: "nameserver 10.0.0.1\n", mode: 0o755},
		{typ: tar.TypeReg, name: "./etc/shadow", body: "root:*:19000:0:99999:7:::\n", mode: 0o640, gid: 42},
		{typ: tar.TypeDir, name: "./home/", mode: 0o755},
		{typ: tar.TypeDir, name: "./tmp/", mode: 0o1777},
		{typ: tar.TypeReg, name: "./tmp/leftover", body: "x", mode: 0o644},
		{typ: tar.TypeDir, name: "./usr/", mode: 0o755},
		{typ: tar.TypeDir, name: "./usr/bin/", mode: 0o755},
		{typ: tar.TypeReg, name: "./usr/bin/apt", body: "apt", mode: 0o755},
		{typ: tar.TypeReg, name: "./usr/bin/apt-get", body: "apt-get", mode: 0o755},
		{typ: tar.TypeReg, name: "./usr/bin/bash", body: "bash", mode: 0o755},
		{typ: tar.TypeSymlink, name: "./usr/bin/sh", link: "dash"},
		{typ: tar.TypeReg, name: "./usr/bin/dash", body: "dash", mode: 0o755},
		{typ: tar.TypeDir, name: "./usr/lib/", mode: 0o755},
		{typ: tar.TypeReg, name: "./usr/lib/os-release", body: "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n", mode: 0o644},
		{typ: tar.TypeDir, name: "./usr/share/", mode: 0o755},
		{typ: tar.TypeDir, name: "./usr/share/doc/", mode: 0o755},
		{typ: tar.TypeDir, name: "./usr/share/doc/bash/", mode: 0o755},
		{typ: tar.TypeReg, name: "./usr/share/doc/bash/changelog.Debian.gz", body: changelogGz(t, "Sat, 11 Mar 2023 14:28:41 +0100"), mode: 0o644},
		{typ: tar.TypeReg, name: "./usr/share/doc/bash/changelog.Debian.amd64.gz", body: changelogGz(t, "Mon, 20 May 2024 10:00:00 +0000"), mode: 0o644},
		{typ: tar.TypeDir, name: "./usr/share/doc/dash/", mode: 0o755},
		{typ: tar.TypeReg, name: "./usr/share/doc/dash/changelog.Debian.gz", body: changelogGz(t, "Tue, 02 Jan 2024 00:00:00 +0000"), mode: 0o644},
		{typ: tar.TypeDir, name: "./var/", mode: 0o755},
		{typ: tar.TypeDir, name: "./var/cache/", mode: 0o755},
		{typ: tar.TypeDir, name: "./var/cache/apt/", mode: 0o755},
		{typ: tar.TypeReg, name: "./var/cache/apt/pkgcache.bin", body: "cache", mode: 0o644},
		{typ: tar.TypeDir, name: "./var/cache/apt/archives/", mode: 0o755},
		{typ: tar.TypeDir, name: "./var/cache/apt/archives/partial/", mode: 0o700},
		{typ: tar.TypeReg, name: "./var/cache/apt/archives/bash_5.2_amd64.deb", body: "deb", mode: 0o644},
		{typ: tar.TypeDir, name: "./var/cache/debconf/", mode: 0o755},
		{typ: tar.TypeReg, name: "./var/cache/debconf/config.dat", body: "cfg", mode: 0o644},
		{typ: tar.TypeReg, name: "./var/cache/debconf/config.dat-old", body: "old", mode: 0o644},
		{typ: tar.TypeDir, name: "./var/cache/ldconfig/", mode: 0o700},
		{typ: tar.TypeReg, name: "./var/cache/ldconfig/aux-cache", body: "aux", mode: 0o600},
		{typ: tar.TypeDir, name: "./var/lib/", mode: 0o755},
		{typ: tar.TypeDir, name: "./var/lib/apt/", mode: 0o755},
		{typ: tar.TypeDir, name: "./var/lib/apt/lists/", mode: 0o755},
		{typ: tar.TypeReg, name: "./var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease", body: "release", mode: 0o644},
		{typ: tar.TypeDir, name: "./var/lib/dpkg/", mode: 0o755},
		{typ: tar.TypeReg, name: "./var/lib/dpkg/status", body: "Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2\n\n" +
			"Package: dash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 0.5\n", mode: 0o644},
		{typ: tar.TypeReg, name: "./var/lib/dpkg/diversions-old", body: "old", mode: 0o644},
		{typ: tar.TypeDir, name: "./var/log/", mode: 0o755},
		{typ: tar.TypeReg, name: "./var/log/dpkg.log", body: "2026-01-01 install bash\n", mode: 0o644},
		{typ: tar.TypeReg, name: "./var/log/wtmp", body: "", mode: 0o664, gid: 43},
	}
}

func writeFakeTar(t *testing.T, entries []fakeEntry) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Typeflag: e.typ, Name: e.name, Linkname: e.link, Mode: e.mode, Gid: e.gid,
			Size: int64(len(e.body)), ModTime: time.Unix(315532801, 0)}
		if e.typ == tar.TypeChar {
			h.Devmajor, h.Devminor = 1, 3
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "rootfs.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func openFake(t *testing.T, entries []fakeEntry) *rootfs.Archive {
	t.Helper()
	a, err := rootfs.Open(context.Background(), writeFakeTar(t, entries))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func TestInspect(t *testing.T) {
	tests := []struct {
		name string
		r    Recipe
		want facts
	}{{
		name: "newest changelog, binNMU included",
		r:    Recipe{Suite: "bookworm"},
		want: facts{
			packages: []dpkg.Package{
				{Name: "bash", Version: "5.2", Architecture: "amd64"},
				{Name: "dash", Version: "0.5", Architecture: "amd64"},
			},
			distroName: "debian", distroVersion: "12",
			epoch: time.Date(2024, 5, 20, 10, 0, 0, 0, time.UTC),
		},
	}, {
		name: "recipe epoch wins",
		r:    Recipe{Suite: "bookworm", SourceDateEpoch: 1700000000},
		want: facts{
			packages: []dpkg.Package{
				{Name: "bash", Version: "5.2", Architecture: "amd64"},
				{Name: "dash", Version: "0.5", Architecture: "amd64"},
			},
			distroName: "debian", distroVersion: "12",
			epoch: time.Unix(1700000000, 0).UTC(),
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := inspect(openFake(t, smallRootfs(t)), tc.r)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(facts{})); diff != "" {
				t.Errorf("inspect (-want +got):\n%s", diff)
			}
		})
	}

	// Without changelogs or VERSION_ID: the fixed time and the code name.
	var bare []fakeEntry
	for _, e := range smallRootfs(t) {
		switch {
		case strings.Contains(e.name, "changelog"):
		case e.name == "./usr/lib/os-release":
			e.body = "ID=debian\nVERSION_CODENAME=trixie\n"
			bare = append(bare, e)
		default:
			bare = append(bare, e)
		}
	}
	got, err := inspect(openFake(t, bare), Recipe{Suite: "testing"})
	if err != nil {
		t.Fatal(err)
	}
	if !got.epoch.Equal(DefaultTime) || got.distroVersion != "trixie" {
		t.Errorf("bare rootfs: epoch %v, version %q; want %v, trixie", got.epoch, got.distroVersion, DefaultTime)
	}
}

func TestInspectErrors(t *testing.T) {
	without := func(name string) []fakeEntry {
		var out []fakeEntry
		for _, e := range smallRootfs(t) {
			if e.name != name {
				out = append(out, e)
			}
		}
		return out
	}
	if _, err := inspect(openFake(t, without("./var/lib/dpkg/status")), Recipe{}); err == nil ||
		!strings.Contains(err.Error(), "var/lib/dpkg/status") {
		t.Errorf("missing status: error %v, want one naming var/lib/dpkg/status", err)
	}
	if _, err := inspect(openFake(t, without("./usr/lib/os-release")), Recipe{}); err == nil ||
		!strings.Contains(err.Error(), "os-release") {
		t.Errorf("missing os-release: error %v, want one naming os-release", err)
	}
}

// layerEntry is what the policy tests compare of a written layer.
type layerEntry struct {
	Name     string
	Type     byte
	Mode     int64
	UID, GID int
	Body     string
}

func layerEntries(t *testing.T, a *rootfs.Archive, modTime time.Time) map[string]layerEntry {
	t.Helper()
	var buf bytes.Buffer
	if err := a.WriteTo(context.Background(), &buf, modTime); err != nil {
		t.Fatal(err)
	}
	out := map[string]layerEntry{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(modTime) {
			t.Errorf("%s: mtime %v, want %v", h.Name, h.ModTime, modTime)
		}
		body, _ := io.ReadAll(tr)
		out[h.Name] = layerEntry{Name: h.Name, Type: h.Typeflag, Mode: h.Mode, UID: h.Uid, GID: h.Gid, Body: string(body)}
	}
}

func TestCleanRemoveAddUser(t *testing.T) {
	epoch := time.Date(2024, 5, 20, 10, 0, 0, 0, time.UTC)
	a := openFake(t, smallRootfs(t))
	if err := clean(a); err != nil {
		t.Fatal(err)
	}
	if err := removePatterns(a, []string{"/usr/bin/apt*", "/usr/bin/bash"}); err != nil {
		t.Fatal(err)
	}
	r := Recipe{Suite: "bookworm", UID: 1234, GID: 2345}.normalize()
	if err := addUser(a, r, epoch); err != nil {
		t.Fatal(err)
	}
	got := layerEntries(t, a, epoch)

	gone := []string{
		"dev/null", "dev/fd", "dev/pts/", "tmp/leftover",
		"var/cache/apt/pkgcache.bin", "var/cache/apt/archives/bash_5.2_amd64.deb",
		"var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease",
		"var/cache/ldconfig/aux-cache", "var/cache/debconf/config.dat-old", "var/lib/dpkg/diversions-old",
		"usr/bin/apt", "usr/bin/apt-get", "usr/bin/bash",
	}
	for _, n := range gone {
		if _, ok := got[n]; ok {
			t.Errorf("%s is still in the layer", n)
		}
	}
	days := "19863" // 2024-05-20 in days since 1970-01-01
	want := []layerEntry{
		{Name: "dev/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "tmp/", Type: tar.TypeDir, Mode: 0o1777},
		{Name: "var/cache/apt/archives/partial/", Type: tar.TypeDir, Mode: 0o700},
		{Name: "var/cache/debconf/config.dat", Type: tar.TypeReg, Mode: 0o644, Body: "cfg"},
		{Name: "etc/hostname", Type: tar.TypeReg, Mode: 0o644},
		{Name: "etc/resolv.conf", Type: tar.TypeReg, Mode: 0o644},
		{Name: "etc/machine-id", Type: tar.TypeReg, Mode: 0o444},
		{Name: "var/log/dpkg.log", Type: tar.TypeReg, Mode: 0o644},
		{Name: "var/log/wtmp", Type: tar.TypeReg, Mode: 0o664, GID: 43},
		// bash was removed, so the user's shell falls back to sh.
		{Name: "etc/passwd", Type: tar.TypeReg, Mode: 0o644, Body: "root:x:0:0:root:/root:/bin/bash\ncnb:x:1234:2345::/home/cnb:/bin/sh\n"},
		{Name: "etc/group", Type: tar.TypeReg, Mode: 0o644, Body: "root:x:0:\nusers:x:100:\ncnb:*:2345:\n"},
		{Name: "etc/shadow", Type: tar.TypeReg, Mode: 0o640, GID: 42, Body: "root:*:19000:0:99999:7:::\ncnb:!:" + days + ":0:99999:7:::\n"},
		{Name: "home/cnb/", Type: tar.TypeDir, Mode: 0o755, UID: 1234, GID: 2345},
		{Name: "workspace/", Type: tar.TypeDir, Mode: 0o755, UID: 1234, GID: 2345},
		{Name: "layers/", Type: tar.TypeDir, Mode: 0o755, UID: 1234, GID: 2345},
		{Name: "platform/", Type: tar.TypeDir, Mode: 0o755, UID: 1234, GID: 2345},
	}
	for _, w := range want {
		if diff := cmp.Diff(w, got[w.Name]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", w.Name, diff)
		}
	}
	for name, e := range got {
		if e.Type == tar.TypeChar || e.Type == tar.TypeBlock {
			t.Errorf("device node %s left in the layer", name)
		}
	}
}

func TestRemovePatternMustMatch(t *testing.T) {
	a := openFake(t, smallRootfs(t))
	err := removePatterns(a, []string{"/usr/bin/dash", "/usr/bin/zsh"})
	if err == nil || !strings.Contains(err.Error(), `recipe remove "/usr/bin/zsh"`) {
		t.Fatalf("error = %v, want one naming the unmatched entry", err)
	}
	if _, ok := a.Header("usr/bin/dash"); ok {
		t.Error("the matching pattern before it was not applied")
	}
	// A directory pattern removes what is below it.
	if err := removePatterns(a, []string{"/var/lib"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.Header("var/lib/dpkg/status"); ok {
		t.Error("var/lib/dpkg/status survived removing /var/lib")
	}
}

func TestAddUserConflict(t *testing.T) {
	a := openFake(t, smallRootfs(t))
	err := addUser(a, Recipe{Suite: "bookworm", UID: 1000, GID: 100, User: "cnb", Group: "cnb"}, DefaultTime)
	if err == nil || !strings.Contains(err.Error(), "gid 100 is already used by group users") {
		t.Fatalf("error = %v, want a gid conflict naming group users", err)
	}
}

func TestIsChangelog(t *testing.T) {
	for name, want := range map[string]bool{
		"usr/share/doc/bash/changelog.Debian.gz":          true,
		"usr/share/doc/bash/changelog.Debian.amd64.gz":    true,
		"usr/share/doc/bash/changelog.gz":                 false,
		"usr/share/doc/bash/examples/changelog.Debian.gz": false,
		"usr/share/doc/changelog.Debian.gz":               false,
	} {
		if got := isChangelog(name); got != want {
			t.Errorf("isChangelog(%q) = %v, want %v", name, got, want)
		}
	}
}
