package testutil

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func TestWriteFiles(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	root := t.TempDir()
	WriteFiles(t, root, map[string]string{"a/b/c.txt": "c", "d": "d"})
	WriteFile(t, filepath.Join(root, "x", "run"), "#!/bin/sh\n", 0o755)
	for p, want := range map[string]string{"a/b/c.txt": "c", "d": "d", "x/run": "#!/bin/sh\n"} {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", p, b, err, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, "x", "run")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("x/run mode = %v, %v; want 0755 whatever the umask", fi.Mode(), err)
	}
}

func TestRegistry(t *testing.T) {
	r := NewRegistry(t)
	img := RandomImage(t, 64, 2)
	ref, err := name.ParseReference(r.Host + "/test/img:latest")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	_, uploads := r.Seen()
	if len(uploads) != 3 { // two layers and the config
		t.Errorf("uploads = %q, want 3", uploads)
	}
	r.Reset()
	got, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := got.Layers()
	if err != nil {
		t.Fatal(err)
	}
	l, err := layers[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	d, _ := layers[0].Digest()
	gets, uploads := r.Seen()
	if diff := cmp.Diff([]string{d.String()}, gets); diff != "" || len(uploads) != 0 {
		t.Errorf("after Reset and one layer read: gets (-want +got) %s, uploads %q", diff, uploads)
	}
}
