package fsutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestCopyTreeAndMove(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	os.MkdirAll(filepath.Join(src, "a", ".bin"), 0o755)
	os.WriteFile(filepath.Join(src, "a", "x.js"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(src, "a", "tool"), []byte("#!"), 0o755)
	os.Symlink("../tool", filepath.Join(src, "a", ".bin", "tool"))

	cp := filepath.Join(t.TempDir(), "copy")
	if err := CopyTree(src, cp); err != nil {
		t.Fatal(err)
	}
	if l, err := os.Readlink(filepath.Join(cp, "a", ".bin", "tool")); err != nil || l != "../tool" {
		t.Errorf("link = %q, %v", l, err)
	}
	if fi, err := os.Stat(filepath.Join(cp, "a", "tool")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("mode %v, %v", fi.Mode(), err)
	}
	mv := filepath.Join(t.TempDir(), "moved")
	if err := Move(cp, mv); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cp); err == nil {
		t.Error("source still exists after Move")
	}
	if b, _ := os.ReadFile(filepath.Join(mv, "a", "x.js")); string(b) != "x" {
		t.Errorf("moved content %q", b)
	}
	if err := CopyTree(src, mv); err == nil {
		t.Error("CopyTree over an existing directory succeeded")
	}
}

func TestHashFiles(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "package.json"), filepath.Join(dir, "package-lock.json")
	os.WriteFile(a, []byte("{}"), 0o644)
	h1, err := HashFiles(a, b)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(b, []byte(""), 0o644)
	h2, _ := HashFiles(a, b)
	if h1 == h2 {
		t.Error("an empty lockfile hashes like a missing one")
	}
	os.WriteFile(b, []byte("1"), 0o644)
	h3, _ := HashFiles(a, b)
	h4, _ := HashFiles(a, b)
	if h3 == h2 || h3 != h4 {
		t.Error("hash does not follow content")
	}
}

func TestSymlink(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "node_modules")
	os.MkdirAll(filepath.Join(link, "old"), 0o755)
	if err := Symlink("/layers/x", link); err != nil {
		t.Fatal(err)
	}
	if l, _ := os.Readlink(link); l != "/layers/x" {
		t.Errorf("link = %q", l)
	}
}

// FileSHA256 digests the contents; a missing file is fs.ErrNotExist, which
// callers turn into "reinstall the buildpack".
func TestFileSHA256(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := FileSHA256(p)
	if want := "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; err != nil || got != want {
		t.Errorf("FileSHA256 = %q, %v; want %q", got, err, want)
	}
	if _, err := FileSHA256(p + ".missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}
