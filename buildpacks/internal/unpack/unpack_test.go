package unpack

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/kiln-build/kiln/internal/extract"
	"github.com/kiln-build/kiln/internal/testutil"
)

type entry = testutil.TarEntry

// tree lists dir as "name -> target" for links, "name/" for directories
// and "name=content (mode)" for files.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out = append(out, rel+" -> "+target)
		case fi.IsDir():
			out = append(out, rel+"/")
		default:
			b, _ := os.ReadFile(p)
			out = append(out, rel+"="+string(b)+" ("+fi.Mode().Perm().String()+")")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func TestTar(t *testing.T) {
	tests := []struct {
		name    string
		entries []entry
		opts    Options
		want    []string
		wantErr string
	}{
		{
			name: "npm package stripped",
			entries: []entry{
				{Name: "package/bin/node", Body: "ELF", Mode: 0o755},
				{Name: "package/LICENSE", Body: "MIT"},
				{Name: "package", Type: tar.TypeDir, Mode: 0o755},
			},
			opts: Options{StripComponents: 1},
			want: []string{"LICENSE=MIT (-rw-r--r--)", "bin/", "bin/node=ELF (-rwxr-xr-x)"},
		},
		{
			name: "debian data with absolute link rebased and docs skipped",
			entries: []entry{
				{Name: "./", Type: tar.TypeDir, Mode: 0o755},
				{Name: "./usr/bin/python3.11", Body: "py", Mode: 0o755},
				{Name: "./usr/share/doc/python3.11/copyright", Body: "c"},
				{Name: "./usr/lib/libx.so", Type: tar.TypeSymlink, Link: "/usr/lib/libx.so.1"},
				{Name: "./usr/lib/libx.so.1", Body: "lib"},
			},
			opts: Options{RebaseAbsoluteLinks: true, Skip: func(n string) bool { return n == "usr/share/doc" }},
			want: []string{"usr/", "usr/bin/", "usr/bin/python3.11=py (-rwxr-xr-x)", "usr/lib/", "usr/lib/libx.so -> libx.so.1", "usr/lib/libx.so.1=lib (-rw-r--r--)"},
		},
		{
			name: "hard link inside",
			entries: []entry{
				{Name: "a", Body: "x"},
				{Name: "b", Type: tar.TypeLink, Link: "a"},
			},
			want: []string{"a=x (-rw-r--r--)", "b=x (-rw-r--r--)"},
		},
		{
			name: "setuid bits dropped",
			entries: []entry{
				{Name: "s", Body: "x", Mode: 0o4755},
			},
			want: []string{"s=x (-rwxr-xr-x)"},
		},
		{name: "dot-dot", entries: []entry{{Name: "../evil", Body: "x"}}, wantErr: "leaves the archive root"},
		{name: "inner dot-dot", entries: []entry{{Name: "a/../../evil", Body: "x"}}, wantErr: "leaves the archive root"},
		{name: "absolute", entries: []entry{{Name: "/etc/evil", Body: "x"}}, wantErr: "absolute"},
		{
			name: "write through an outside link",
			entries: []entry{
				{Name: "out", Type: tar.TypeSymlink, Link: "../outside"},
				{Name: "out/evil", Body: "x"},
			},
			wantErr: "escapes",
		},
		{
			name: "directory entry over an outside link",
			entries: []entry{
				{Name: "out", Type: tar.TypeSymlink, Link: "../outside"},
				{Name: "out", Type: tar.TypeDir, Mode: 0o755},
			},
			wantErr: "leaves the destination",
		},
		{
			name: "directory entry over an inside link keeps it (dpkg)",
			entries: []entry{
				{Name: "usr/lib", Type: tar.TypeDir, Mode: 0o755},
				{Name: "lib", Type: tar.TypeSymlink, Link: "usr/lib"},
				{Name: "lib", Type: tar.TypeDir, Mode: 0o755},
				{Name: "lib/x.so", Body: "so"},
			},
			want: []string{"lib -> usr/lib", "usr/", "usr/lib/", "usr/lib/x.so=so (-rw-r--r--)"},
		},
		{
			name: "hard link to a skipped entry",
			entries: []entry{
				{Name: "doc/a", Body: "x"},
				{Name: "b", Type: tar.TypeLink, Link: "doc/a"},
			},
			opts:    Options{Skip: func(n string) bool { return n == "doc" }},
			wantErr: "left out",
		},
		{
			name: "hard link to outside",
			entries: []entry{
				{Name: "h", Type: tar.TypeLink, Link: "../outside/secret"},
			},
			wantErr: "leaves the archive root",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			if err := os.MkdirAll(filepath.Join(base, "outside"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(base, "outside", "secret"), []byte("s"), 0o644); err != nil {
				t.Fatal(err)
			}
			dest := filepath.Join(base, "dest")
			err := Tar(bytes.NewReader(testutil.Tar(t, tt.entries...)), dest, tt.opts)
			if got := tree(t, filepath.Join(base, "outside")); len(got) != 1 {
				t.Errorf("outside directory changed: %v", got)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, tree(t, dest)); diff != "" {
				t.Errorf("tree (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecompress(t *testing.T) {
	raw := testutil.Tar(t, entry{Name: "f", Body: "hello"})
	var gz, xzb, zs bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(raw)
	gw.Close()
	xw, err := xz.NewWriter(&xzb)
	if err != nil {
		t.Fatal(err)
	}
	xw.Write(raw)
	xw.Close()
	zw, err := zstd.NewWriter(&zs)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(raw)
	zw.Close()
	for name, data := range map[string][]byte{"plain": raw, "gzip": gz.Bytes(), "xz": xzb.Bytes(), "zstd": zs.Bytes()} {
		dest := t.TempDir()
		if err := Tar(bytes.NewReader(data), dest, Options{}); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if b, _ := os.ReadFile(filepath.Join(dest, "f")); string(b) != "hello" {
			t.Errorf("%s: extracted %q", name, b)
		}
	}
}

func TestZip(t *testing.T) {
	tests := []struct {
		name    string
		files   []string
		want    []string
		wantErr string
	}{
		{
			name:  "toolchain module zip",
			files: []string{"golang.org/toolchain@v0.0.1-go1.22.5.linux-amd64/bin/go", "golang.org/toolchain@v0.0.1-go1.22.5.linux-amd64/src/fmt/print.go"},
			want:  []string{"bin/", "bin/go=golang.org/toolchain@v0.0.1-go1.22.5.linux-amd64/bin/go (-rwxr-xr-x)", "src/", "src/fmt/", "src/fmt/print.go=golang.org/toolchain@v0.0.1-go1.22.5.linux-amd64/src/fmt/print.go (-rw-r--r--)"},
		},
		{name: "escape", files: []string{"golang.org/toolchain@v0.0.1-go1.22.5.linux-amd64/../../../x"}, wantErr: "leaves the archive root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			zp := filepath.Join(t.TempDir(), "m.zip")
			f, err := os.Create(zp)
			if err != nil {
				t.Fatal(err)
			}
			zw := zip.NewWriter(f)
			for _, n := range tt.files {
				w, err := zw.Create(n)
				if err != nil {
					t.Fatal(err)
				}
				w.Write([]byte(n))
			}
			zw.Close()
			f.Close()
			dest := t.TempDir()
			err = Zip(zp, dest, Options{StripComponents: 2, Executable: func(n string) bool { return strings.HasPrefix(n, "bin/") }})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, tree(t, dest)); diff != "" {
				t.Errorf("tree (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzTar feeds arbitrary archives to Tar and checks that nothing is
// written outside the destination.
func FuzzTar(f *testing.F) {
	f.Add(testutil.Tar(f, entry{Name: "a/b", Body: "x"}, entry{Name: "l", Type: tar.TypeSymlink, Link: "/etc"}))
	f.Add(testutil.Tar(f, entry{Name: "l", Type: tar.TypeSymlink, Link: "../x"}, entry{Name: "l/y", Body: "x"}))
	f.Add(testutil.Tar(f, entry{Name: "h", Type: tar.TypeLink, Link: "../x"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		base := t.TempDir()
		dest := filepath.Join(base, "dest")
		_ = Tar(bytes.NewReader(data), dest, Options{RebaseAbsoluteLinks: true})
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

// A zstd stream that asks for a bigger window than the cap is refused; an
// archive past the byte cap is refused before it fills a disk.
func TestDecompressBounds(t *testing.T) {
	var zs bytes.Buffer
	zw, err := zstd.NewWriter(&zs, zstd.WithWindowSize(512<<20), zstd.WithSingleSegment(false))
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(bytes.Repeat([]byte("x"), 1<<20))
	zw.Close()
	for name, data := range map[string][]byte{"zstd with a 512 MiB window": zs.Bytes()} {
		r, err := Decompress(bytes.NewReader(data))
		if err == nil {
			_, err = io.Copy(io.Discard, r)
			r.Close()
		}
		if err == nil {
			t.Errorf("%s: decompressed", name)
		}
	}
	// 3 files of 1 KiB against a 2 KiB cap.
	big := testutil.Tar(t, entry{Name: "a", Body: strings.Repeat("a", 1024)}, entry{Name: "b", Body: strings.Repeat("b", 1024)}, entry{Name: "c", Body: strings.Repeat("c", 1024)})
	dest := t.TempDir()
	err = Tar(bytes.NewReader(big), dest, Options{MaxBytes: 2048})
	if !errors.Is(err, extract.ErrTooLarge) {
		t.Errorf("past the byte cap: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dest, "c")); err == nil {
		t.Error("c written past the cap")
	}
}

// A zip file is held to the byte cap as a tar is: by the sizes its
// headers declare, before an entry is written, and a header that declares
// less than its entry holds fails the read instead of passing the cap.
func TestZipBounds(t *testing.T) {
	write := func(t *testing.T, add func(zw *zip.Writer)) string {
		zp := filepath.Join(t.TempDir(), "m.zip")
		f, err := os.Create(zp)
		if err != nil {
			t.Fatal(err)
		}
		zw := zip.NewWriter(f)
		add(zw)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		return zp
	}
	t.Run("past the byte cap", func(t *testing.T) {
		zp := write(t, func(zw *zip.Writer) {
			for _, n := range []string{"a", "b", "c"} {
				w, _ := zw.Create(n)
				w.Write(bytes.Repeat([]byte(n), 1024))
			}
		})
		dest := t.TempDir()
		if err := Zip(zp, dest, Options{MaxBytes: 2048}); !errors.Is(err, extract.ErrTooLarge) {
			t.Errorf("past the byte cap: %v", err)
		}
		if _, err := os.Lstat(filepath.Join(dest, "c")); err == nil {
			t.Error("c written past the cap")
		}
	})
	t.Run("header understates the size", func(t *testing.T) {
		body := bytes.Repeat([]byte("x"), 4096)
		zp := write(t, func(zw *zip.Writer) {
			w, err := zw.CreateRaw(&zip.FileHeader{Name: "big", Method: zip.Store,
				CRC32: crc32.ChecksumIEEE(body), CompressedSize64: uint64(len(body)), UncompressedSize64: 10})
			if err != nil {
				t.Fatal(err)
			}
			w.Write(body)
		})
		dest := t.TempDir()
		if err := Zip(zp, dest, Options{MaxBytes: 2048}); err == nil {
			t.Error("an entry holding more than its header declares was extracted")
		}
		if fi, err := os.Lstat(filepath.Join(dest, "big")); err == nil && fi.Size() > 2048 {
			t.Errorf("big written with %d bytes past the 2048-byte cap", fi.Size())
		}
	})
}
