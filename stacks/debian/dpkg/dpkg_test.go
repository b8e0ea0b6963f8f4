package dpkg

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const status = `Package: zlib1g
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Version: 1:1.2.13.dfsg-1
Description: compression library - runtime
 zlib is a library implementing the deflate compression method found
 .
 in gzip and PKZIP.

Package: bash
Essential: yes
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b2
Conffiles:
 /etc/bash.bashrc 89269e1298235f1b12b4c16e4065ad0d

Package: oldie
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: halfway
Status: install reinstreq half-installed
Architecture: amd64
Version: 2.0

Package: tzdata
Status: hold ok installed
Architecture: all
Version: 2024a-0+deb12u1
`

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Package
		err  string
	}{{
		name: "installed packages only, sorted",
		in:   status,
		want: []Package{
			{Name: "bash", Version: "5.2.15-2+b2", Architecture: "amd64"},
			{Name: "tzdata", Version: "2024a-0+deb12u1", Architecture: "all"},
			{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Architecture: "amd64"},
		},
	}, {
		name: "blank lines with spaces separate paragraphs, no final newline",
		in:   "Package: a\nStatus: install ok installed\nArchitecture: all\nVersion: 1\n  \n\n\nPackage: b\nStatus: install ok installed\nArchitecture: all\nVersion: 2",
		want: []Package{{Name: "a", Version: "1", Architecture: "all"}, {Name: "b", Version: "2", Architecture: "all"}},
	}, {
		name: "empty",
		in:   "",
	}, {
		name: "paragraph without Package",
		in:   "Status: install ok installed\nVersion: 1\n",
		err:  "line 1: paragraph without a Package field",
	}, {
		name: "garbage line",
		in:   "Package: a\nthis is not a field\n",
		err:  "line 2: want \"Field: value\"",
	}, {
		name: "continuation first",
		in:   " continued\n",
		err:  "line 1: continuation line outside a field",
	}, {
		name: "installed without version",
		in:   "Package: a\nStatus: install ok installed\nArchitecture: all\n",
		err:  "installed package a lacks Version or Architecture",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseStatus([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseStatus (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRef(t *testing.T) {
	p := Package{Name: "libc6", Version: "2.36-9+deb12u4", Architecture: "amd64"}
	if got, want := p.String(), "libc6:amd64=2.36-9+deb12u4"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	back, err := ParseRef(p.String())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, back); diff != "" {
		t.Errorf("ParseRef(String()) (-want +got):\n%s", diff)
	}
	// An epoch's colon lives in the version, after '='.
	e, err := ParseRef("zlib1g:amd64=1:1.2.13.dfsg-1")
	if err != nil || e.Version != "1:1.2.13.dfsg-1" || e.Architecture != "amd64" {
		t.Errorf("ParseRef with epoch = %+v, %v", e, err)
	}
	for _, bad := range []string{"", "bash", "bash=1", ":amd64=1", "bash:amd64="} {
		if _, err := ParseRef(bad); err == nil {
			t.Errorf("ParseRef(%q) succeeded, want an error", bad)
		}
	}
}

func gz(t testing.TB, s string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestChangelogDate(t *testing.T) {
	tests := []struct {
		name, in string
		want     time.Time
		err      string
	}{{
		name: "first trailer wins",
		in: "bash (5.2.15-2+b2) sid; urgency=medium, binary-only=yes\n\n  * Binary-only non-maintainer upload.\n\n" +
			" -- amd64 Build Daemon (x86-ubc-02) <buildd_amd64-x86-ubc-02@buildd.debian.org>  Sat, 11 Mar 2023 14:28:41 +0100\n\n" +
			"bash (5.2.15-2) unstable; urgency=medium\n\n -- Matthias Klose <doko@debian.org>  Mon, 02 Jan 2023 10:00:00 +0000\n",
		want: time.Date(2023, 3, 11, 13, 28, 41, 0, time.UTC),
	}, {
		name: "single digit day and zone comment",
		in:   "x (1) unstable; urgency=low\n\n -- A <a@b>  Tue,  3 Jan 2006 10:00:00 -0500 (EST)\n",
		want: time.Date(2006, 1, 3, 15, 0, 0, 0, time.UTC),
	}, {
		name: "no trailer",
		in:   "x (1) unstable; urgency=low\n  * nothing\n",
		err:  "no entry trailer line",
	}, {
		name: "trailer without date",
		in:   " -- A <a@b>\n",
		err:  "no date after the maintainer address",
	}, {
		name: "bad date",
		in:   " -- A <a@b>  yesterday\n",
		err:  `changelog date "yesterday"`,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ChangelogDate(gz(t, tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tc.want) {
				t.Errorf("ChangelogDate = %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := ChangelogDate([]byte("plain text")); err == nil || !strings.Contains(err.Error(), "decompressing changelog") {
		t.Errorf("ChangelogDate(not gzip) error = %v", err)
	}
}

func FuzzParseStatus(f *testing.F) {
	f.Add([]byte(status))
	f.Add([]byte("Package: a\n \n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pkgs, err := ParseStatus(data)
		if err != nil {
			return
		}
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" || p.Architecture == "" {
				t.Fatalf("package with empty fields: %+v", p)
			}
		}
	})
}

func FuzzChangelogDate(f *testing.F) {
	f.Add([]byte(" -- A <a@b>  Sat, 11 Mar 2023 14:28:41 +0100\n"))
	f.Add([]byte("x\n -- A <a@b>  Tue,  3 Jan 2006 10:00:00 -0500 (EST)\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		got, err := ChangelogDate(gz(t, string(text)))
		if err == nil && got.Location() != time.UTC {
			t.Fatalf("date %v not in UTC", got)
		}
	})
}

func FuzzParseRef(f *testing.F) {
	f.Add("libc6:amd64=2.36-9+deb12u4")
	f.Add("zlib1g:amd64=1:1.2.13.dfsg-1")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseRef(s)
		if err != nil {
			return
		}
		back, err := ParseRef(p.String())
		if err != nil || back != p {
			t.Fatalf("round trip of %q: %+v, %v", s, back, err)
		}
	})
}
