package rootfs

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// entrySpec describes one input tar entry in tests.
type entrySpec struct {
	typ      byte
	name     string
	link     string
	body     string
	mode     int64
	uid, gid int
	pax      map[string]string
}

func writeTar(t testing.TB, specs []entrySpec) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, s := range specs {
		h := &tar.Header{
			Typeflag:   s.typ,
			Name:       s.name,
			Linkname:   s.link,
			Mode:       s.mode,
			Uid:        s.uid,
			Gid:        s.gid,
			Uname:      "someone",
			Gname:      "somegroup",
			ModTime:    time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
			PAXRecords: s.pax,
		}
		if s.typ == tar.TypeReg {
			h.Size = int64(len(s.body))
		}
		if s.typ == tar.TypeChar {
			h.Devmajor, h.Devminor = 1, 3
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("writing header %s: %v", s.name, err)
		}
		if s.body != "" {
			if _, err := io.WriteString(tw, s.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "in.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// outEntry is what tests compare of an output entry.
type outEntry struct {
	Typ      byte
	Name     string
	Link     string
	Body     string
	Mode     int64
	UID, GID int
	Uname    string
	ModTime  time.Time
	PAX      map[string]string
}

func readOut(t *testing.T, data []byte) []outEntry {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(data))
	var out []outEntry
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading output tar: %v", err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		var pax map[string]string
		for k, v := range h.PAXRecords {
			if pax == nil {
				pax = map[string]string{}
			}
			pax[k] = v
		}
		out = append(out, outEntry{
			Typ: h.Typeflag, Name: h.Name, Link: h.Linkname, Body: string(body),
			Mode: h.Mode, UID: h.Uid, GID: h.Gid, Uname: h.Uname + h.Gname,
			ModTime: h.ModTime.UTC(), PAX: pax,
		})
	}
}

var base = []entrySpec{
	{typ: tar.TypeChar, name: "./dev/null", mode: 0o666},
	{typ: tar.TypeDir, name: "./", mode: 0o755},
	{typ: tar.TypeSymlink, name: "./bin", link: "usr/bin"},
	{typ: tar.TypeDir, name: "./etc/", mode: 0o755},
	{typ: tar.TypeSymlink, name: "./etc/os-release", link: "../usr/lib/os-release"},
	{typ: tar.TypeReg, name: "./etc/passwd", body: "root:x:0:0::/root:/bin/sh\n", mode: 0o644},
	{typ: tar.TypeDir, name: "./home/", mode: 0o755},
	{typ: tar.TypeDir, name: "./usr/", mode: 0o755},
	{typ: tar.TypeDir, name: "./usr/bin/", mode: 0o755},
	{typ: tar.TypeReg, name: "./usr/bin/zz", body: "shared", mode: 0o755, pax: map[string]string{
		"SCHILY.xattr.security.capability": "\x01\x00", "atime": "1700000000",
	}},
	{typ: tar.TypeLink, name: "./usr/bin/aa", link: "./usr/bin/zz"},
	{typ: tar.TypeLink, name: "./usr/bin/mm", link: "./usr/bin/zz"},
	{typ: tar.TypeDir, name: "./usr/lib/", mode: 0o755},
	{typ: tar.TypeReg, name: "./usr/lib/os-release", body: "ID=debian\n", mode: 0o644},
	{typ: tar.TypeSymlink, name: "./usr/lib/abs", link: "/etc/passwd"},
	{typ: tar.TypeSymlink, name: "./usr/lib/loop", link: "loop"},
	{typ: tar.TypeDir, name: "./tmp/", mode: 0o1777},
}

func TestWriteTo(t *testing.T) {
	epoch := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	dir := func(name string, mode int64) outEntry {
		return outEntry{Typ: tar.TypeDir, Name: name, Mode: mode, ModTime: epoch}
	}
	cap := map[string]string{"SCHILY.xattr.security.capability": "\x01\x00"}
	tests := []struct {
		name string
		edit func(*testing.T, *Archive)
		want []outEntry
	}{{
		name: "sorted, times fixed, names empty, first hard link name leads",
		edit: func(*testing.T, *Archive) {},
		want: []outEntry{
			{Typ: tar.TypeSymlink, Name: "bin", Link: "usr/bin", ModTime: epoch},
			{Typ: tar.TypeChar, Name: "dev/null", Mode: 0o666, ModTime: epoch},
			dir("etc/", 0o755),
			{Typ: tar.TypeSymlink, Name: "etc/os-release", Link: "../usr/lib/os-release", ModTime: epoch},
			{Typ: tar.TypeReg, Name: "etc/passwd", Body: "root:x:0:0::/root:/bin/sh\n", Mode: 0o644, ModTime: epoch},
			dir("home/", 0o755),
			dir("tmp/", 0o1777),
			dir("usr/", 0o755),
			dir("usr/bin/", 0o755),
			{Typ: tar.TypeReg, Name: "usr/bin/aa", Body: "shared", Mode: 0o755, ModTime: epoch, PAX: cap},
			{Typ: tar.TypeLink, Name: "usr/bin/mm", Link: "usr/bin/aa", Mode: 0o755, ModTime: epoch, PAX: cap},
			{Typ: tar.TypeLink, Name: "usr/bin/zz", Link: "usr/bin/aa", Mode: 0o755, ModTime: epoch, PAX: cap},
			dir("usr/lib/", 0o755),
			{Typ: tar.TypeSymlink, Name: "usr/lib/abs", Link: "/etc/passwd", ModTime: epoch},
			{Typ: tar.TypeSymlink, Name: "usr/lib/loop", Link: "loop", ModTime: epoch},
			{Typ: tar.TypeReg, Name: "usr/lib/os-release", Body: "ID=debian\n", Mode: 0o644, ModTime: epoch},
		},
	}, {
		name: "edits: remove tree and devices, rewrite a hard-linked file, mkdir",
		edit: func(t *testing.T, a *Archive) {
			if n := a.Remove("usr/lib"); n != 4 {
				t.Errorf("Remove(usr/lib) = %d entries, want 4", n)
			}
			if n := a.Remove("usr/bin/aa"); n != 1 {
				t.Errorf("Remove(usr/bin/aa) = %d entries, want 1", n)
			}
			n := a.RemoveFunc(func(_ string, h tar.Header) bool { return h.Typeflag == tar.TypeChar })
			if n != 1 {
				t.Errorf("RemoveFunc(devices) = %d, want 1", n)
			}
			if err := a.WriteFile("usr/bin/zz", []byte("new")); err != nil {
				t.Fatal(err)
			}
			if err := a.WriteFile("etc/passwd", nil); err != nil {
				t.Fatal(err)
			}
			if err := a.Mkdir("home/cnb", 0o755, 1234, 1235); err != nil {
				t.Fatal(err)
			}
			if err := a.Mkdir("/tmp/", 0o700, 5, 6); err != nil {
				t.Fatal(err)
			}
			if err := a.Create("etc/hostname", nil, 0o644, 0, 0); err != nil {
				t.Fatal(err)
			}
			// Replacing a symbolic link with a file.
			if err := a.Create("/etc/os-release", []byte("ID=x\n"), 0o600, 7, 8); err != nil {
				t.Fatal(err)
			}
		},
		want: []outEntry{
			{Typ: tar.TypeSymlink, Name: "bin", Link: "usr/bin", ModTime: epoch},
			dir("etc/", 0o755),
			{Typ: tar.TypeReg, Name: "etc/hostname", Mode: 0o644, ModTime: epoch},
			{Typ: tar.TypeReg, Name: "etc/os-release", Body: "ID=x\n", Mode: 0o600, UID: 7, GID: 8, ModTime: epoch},
			{Typ: tar.TypeReg, Name: "etc/passwd", Mode: 0o644, ModTime: epoch},
			dir("home/", 0o755),
			{Typ: tar.TypeDir, Name: "home/cnb/", Mode: 0o755, UID: 1234, GID: 1235, ModTime: epoch},
			{Typ: tar.TypeDir, Name: "tmp/", Mode: 0o700, UID: 5, GID: 6, ModTime: epoch},
			dir("usr/", 0o755),
			dir("usr/bin/", 0o755),
			{Typ: tar.TypeReg, Name: "usr/bin/mm", Body: "new", Mode: 0o755, ModTime: epoch, PAX: cap},
			{Typ: tar.TypeLink, Name: "usr/bin/zz", Link: "usr/bin/mm", Mode: 0o755, ModTime: epoch, PAX: cap},
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			a, err := Open(ctx, writeTar(t, base))
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			tc.edit(t, a)
			var buf bytes.Buffer
			if err := a.WriteTo(ctx, &buf, epoch); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, readOut(t, buf.Bytes())); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			var again bytes.Buffer
			if err := a.WriteTo(ctx, &again, epoch); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), again.Bytes()) {
				t.Error("two writes of the same archive differ")
			}
		})
	}
}

func TestResolveAndRead(t *testing.T) {
	a, err := Open(context.Background(), writeTar(t, base))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	tests := []struct {
		in, resolved, body, err string
	}{
		{in: "etc/os-release", resolved: "usr/lib/os-release", body: "ID=debian\n"},
		{in: "/bin/zz", resolved: "usr/bin/zz", body: "shared"},
		{in: "bin/aa", resolved: "usr/bin/aa", body: "shared"},
		{in: "usr/lib/abs", resolved: "etc/passwd", body: "root:x:0:0::/root:/bin/sh\n"},
		{in: "bin/missing", resolved: "usr/bin/missing", err: "file does not exist"},
		{in: "usr/lib/loop", err: "too many levels of symbolic links"},
		{in: "usr", resolved: "usr", err: "not a regular file"},
		{in: "../etc", err: ".. component"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			r, err := a.Resolve(tc.in)
			if err == nil && r != tc.resolved {
				t.Errorf("Resolve(%q) = %q, want %q", tc.in, r, tc.resolved)
			}
			b, err := a.ReadFile(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ReadFile(%q) error = %v, want one containing %q", tc.in, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.body {
				t.Errorf("ReadFile(%q) = %q, want %q", tc.in, b, tc.body)
			}
		})
	}
}

func TestEditErrors(t *testing.T) {
	a, err := Open(context.Background(), writeTar(t, base))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"mkdir over a file", a.Mkdir("etc/passwd", 0o755, 0, 0), "exists and is not a directory"},
		{"mkdir without parent", a.Mkdir("nope/dir", 0o755, 0, 0), "parent /nope is not a directory"},
		{"mkdir root", a.Mkdir("/", 0o755, 0, 0), "not a path below the root"},
		{"write missing", a.WriteFile("etc/shadow", nil), "file does not exist"},
		{"write dir", a.WriteFile("etc", nil), "not a regular file"},
		{"create over a dir", a.Create("usr", nil, 0o644, 0, 0), "exists and is a directory"},
		{"create without parent", a.Create("nope/file", nil, 0o644, 0, 0), "parent /nope is not a directory"},
	}
	for _, tc := range tests {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: error = %v, want one containing %q", tc.name, tc.err, tc.want)
		}
	}
}

func TestOpenRejects(t *testing.T) {
	tests := []struct {
		name  string
		specs []entrySpec
		want  string
	}{
		{"escaping name", []entrySpec{{typ: tar.TypeReg, name: "../evil", body: "x"}}, ".. component"},
		{"dangling hard link", []entrySpec{{typ: tar.TypeLink, name: "a", link: "b"}}, "not a regular file earlier in the archive"},
		{"hard link to a directory", []entrySpec{
			{typ: tar.TypeDir, name: "d/"}, {typ: tar.TypeLink, name: "a", link: "d"},
		}, "not a regular file earlier"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(context.Background(), writeTar(t, tc.specs))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open error = %v, want one containing %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "in.tar") {
				t.Errorf("error %q does not name the tar file", err)
			}
		})
	}
	if _, err := Open(context.Background(), filepath.Join(t.TempDir(), "missing.tar")); err == nil || !strings.Contains(err.Error(), "missing.tar") {
		t.Errorf("Open(missing) error = %v, want one naming the file", err)
	}
}

// FuzzOpen feeds arbitrary bytes as a root file system tar: Open must
// either refuse them or index them so that writing and reading back keeps
// the same names.
func FuzzOpen(f *testing.F) {
	f.Add(mustRead(f, writeTar(f, base)))
	f.Add([]byte("not a tar file"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "fuzz.tar")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		a, err := Open(ctx, p)
		if err != nil {
			return
		}
		defer a.Close()
		for _, n := range a.Names() {
			if strings.HasPrefix(n, "/") || strings.HasPrefix(n, "../") || n == ".." || n == "" {
				t.Fatalf("indexed unsafe name %q", n)
			}
			_, _ = a.ReadFile(n)
		}
		var buf bytes.Buffer
		if err := a.WriteTo(ctx, &buf, time.Unix(315532801, 0)); err != nil {
			// Content may be truncated on disk; that must be an error, not a panic.
			return
		}
		out := filepath.Join(t.TempDir(), "out.tar")
		if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		b, err := Open(ctx, out)
		if err != nil {
			t.Fatalf("reopening written archive: %v", err)
		}
		defer b.Close()
		if diff := cmp.Diff(a.Names(), b.Names()); diff != "" {
			t.Errorf("names changed on round trip (-first +second):\n%s", diff)
		}
	})
}

func mustRead(t testing.TB, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
