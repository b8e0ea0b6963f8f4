package testutil

import (
	"archive/tar"
	"bytes"
	"testing"
)

// TarEntry is one entry of a tar stream written by Tar.
type TarEntry struct {
	Name, Link, Body string
	// Type is the tar type flag; zero means a regular file.
	Type byte
	// Mode is the tar header mode; zero means 0644.
	Mode int64
}

// Tar returns an uncompressed tar stream of entries. Only regular files
// carry their Body.
func Tar(t testing.TB, entries ...TarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, Linkname: e.Link, Typeflag: e.Type, Mode: e.Mode, Size: int64(len(e.Body))}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(e.Body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
