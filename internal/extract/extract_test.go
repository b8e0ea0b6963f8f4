package extract

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/testutil"
)

type ent = testutil.TarEntry

func TestHooks(t *testing.T) {
	dest := t.TempDir()
	opts := Options{
		Rename: func(n string) (string, error) {
			_, rest, ok := strings.Cut(n, "/")
			if !ok {
				return "", nil
			}
			return rest, nil
		},
		LinkTarget: func(name, target string) string { return strings.TrimPrefix(target, "/") },
		Mode:       func(name string, isDir bool, m fs.FileMode) fs.FileMode { return m.Perm() &^ 0o022 },
	}
	data := testutil.Tar(t,
		ent{Name: "pkg", Type: tar.TypeDir, Mode: 0o777},
		ent{Name: "pkg/bin/x", Body: "x", Mode: 0o4777},
		ent{Name: "pkg/l", Type: tar.TypeSymlink, Link: "/bin/x"},
		ent{Name: "pkg/h", Type: tar.TypeLink, Link: "pkg/bin/x"},
	)
	if err := Extract(context.Background(), bytes.NewReader(data), dest, opts); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dest, "bin", "x"))
	if err != nil || fi.Mode() != 0o755 {
		t.Errorf("bin/x: %v %v, want mode 0755 without setuid", fi, err)
	}
	if l, _ := os.Readlink(filepath.Join(dest, "l")); l != "bin/x" {
		t.Errorf("link target %q", l)
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "h")); string(b) != "x" {
		t.Errorf("hardlink reads %q", b)
	}
	if _, err := os.Lstat(filepath.Join(dest, "pkg")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stripped component extracted: %v", err)
	}
}

func TestRenameCannotEscape(t *testing.T) {
	base := t.TempDir()
	dest := filepath.Join(base, "dest")
	opts := Options{Rename: func(string) (string, error) { return "../evil", nil }}
	err := Extract(context.Background(), bytes.NewReader(testutil.Tar(t, ent{Name: "a", Body: "x"})), dest, opts)
	if !errors.Is(err, ErrUnsafePath) {
		t.Errorf("error %v, want ErrUnsafePath", err)
	}
	if _, err := os.Lstat(filepath.Join(base, "evil")); err == nil {
		t.Error("written outside the destination")
	}
}

func TestEntry(t *testing.T) {
	x, err := New(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	ctx := context.Background()
	if err := x.Entry(ctx, &tar.Header{Name: "d/f", Typeflag: tar.TypeReg, Mode: 0o644}, strings.NewReader("zip data")); err != nil {
		t.Fatal(err)
	}
	if err := x.Entry(ctx, &tar.Header{Name: "../f", Typeflag: tar.TypeReg}, strings.NewReader("")); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("escaping entry: %v", err)
	}
	if err := x.Finish(); err != nil {
		t.Fatal(err)
	}
}

// FuzzExtract feeds arbitrary archives through every hook and checks that
// nothing is written outside the destination.
func FuzzExtract(f *testing.F) {
	f.Add(testutil.Tar(f, ent{Name: "a/b", Body: "x"}, ent{Name: "a/l", Type: tar.TypeSymlink, Link: "/etc"}, ent{Name: "a/l/p", Body: "x"}))
	f.Add(testutil.Tar(f, ent{Name: "a/l", Type: tar.TypeSymlink, Link: "../../x"}, ent{Name: "a/l", Type: tar.TypeDir}, ent{Name: "a/l/y", Body: "x"}))
	f.Add(testutil.Tar(f, ent{Name: "a/h", Type: tar.TypeLink, Link: "../x"}, ent{Name: "a/.wh.b", Body: ""}))
	f.Fuzz(func(t *testing.T, data []byte) {
		base := t.TempDir()
		dest := filepath.Join(base, "dest")
		opts := Options{
			Whiteouts:    len(data)%2 == 0,
			KeepDirLinks: len(data)%3 == 0,
			Rename: func(n string) (string, error) {
				_, rest, _ := strings.Cut(n, "/")
				return rest, nil
			},
			LinkTarget: func(name, target string) string { return strings.TrimPrefix(target, "/") },
		}
		_ = Extract(context.Background(), bytes.NewReader(data), dest, opts)
		entries, err := os.ReadDir(base)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name() != "dest" {
				t.Fatalf("%s was created outside the destination", e.Name())
			}
		}
	})
}

// An archive past MaxBytes or MaxEntries fails before the entry that
// passes the cap is written, naming it.
func TestCaps(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    Options
		ents    []ent
		wantErr string // "" extracts it all
		absent  string
	}{
		{"within", Options{MaxBytes: 6, MaxEntries: 3}, []ent{{Name: "a", Body: "abc"}, {Name: "b", Body: "def"}}, "", ""},
		{"bytes", Options{MaxBytes: 5}, []ent{{Name: "a", Body: "abc"}, {Name: "b", Body: "def"}}, `"b": more than 5 bytes`, "b"},
		{"entries", Options{MaxEntries: 2}, []ent{{Name: "d", Type: tar.TypeDir}, {Name: "d/a", Body: ""}, {Name: "d/b", Body: ""}}, `"d/b": more than 2 entries`, "d/b"},
		{"no caps", Options{}, []ent{{Name: "a", Body: "abc"}, {Name: "b", Body: "def"}}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dest := t.TempDir()
			err := Extract(context.Background(), bytes.NewReader(testutil.Tar(t, tc.ents...)), dest, tc.opts)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want ErrTooLarge saying %q", err, tc.wantErr)
			}
			if _, err := os.Lstat(filepath.Join(dest, tc.absent)); err == nil {
				t.Errorf("%s was written past the cap", tc.absent)
			}
		})
	}
}
