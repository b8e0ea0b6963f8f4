package archive

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/kiln-build/kiln/internal/testutil"
)

func sha(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

func readAll(t *testing.T, open func() (io.ReadCloser, error)) []byte {
	t.Helper()
	rc, err := open()
	if err != nil {
		t.Fatalf("opening: %v", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading: %v", err)
	}
	return b
}

func sampleTar(t *testing.T) *Tar {
	t.Helper()
	tr := NewTar()
	for i := range 20 {
		data := bytes.Repeat([]byte(fmt.Sprintf("line %d\n", i)), 500)
		if err := tr.Add(File(fmt.Sprintf("layers/bp/l/f%02d", i), 0o644, Owner{UID: 1000, GID: 1000}, data)); err != nil {
			t.Fatal(err)
		}
	}
	return tr
}

func TestNewLayer(t *testing.T) {
	ctx := context.Background()
	tr := sampleTar(t)
	var want bytes.Buffer
	if err := tr.Write(ctx, &want); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	l, err := NewLayer(ctx, tr, WithTempDir(tmp), WithMediaType(types.DockerLayer))
	if err != nil {
		t.Fatalf("NewLayer: %v", err)
	}
	defer l.Close()

	// One pass leaves one file: the compressed blob, in the chosen temp
	// dir; no uncompressed copy.
	files, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || !strings.HasSuffix(files[0].Name(), ".tar.gz") || files[0].IsDir() {
		t.Errorf("temp dir holds %v, want just the compressed layer", files)
	}
	diffID, _ := l.DiffID()
	if got := sha(want.Bytes()); diffID != got {
		t.Errorf("DiffID %s, want sha256 of the tar %s", diffID, got)
	}
	if got := readAll(t, l.Uncompressed); !bytes.Equal(got, want.Bytes()) {
		t.Error("Uncompressed differs from the tar stream")
	}
	comp := readAll(t, l.Compressed)
	digest, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if got := sha(comp); digest != got {
		t.Errorf("Digest %s, want sha256 of the compressed bytes %s", digest, got)
	}
	size, err := l.Size()
	if err != nil || size != int64(len(comp)) {
		t.Errorf("Size = %d, %v; want %d", size, err, len(comp))
	}
	zr, err := gzip.NewReader(bytes.NewReader(comp))
	if err != nil {
		t.Fatalf("compressed layer is not gzip: %v", err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(plain, want.Bytes()) {
		t.Error("decompressed layer differs from the tar stream")
	}
	if mt, _ := l.MediaType(); mt != types.DockerLayer {
		t.Errorf("MediaType %s, want %s", mt, types.DockerLayer)
	}

	// The layer makes a valid image for go-containerregistry.
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Errorf("validate.Image: %v", err)
	}

	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := l.Compressed(); err == nil {
		t.Error("Compressed succeeded after Close")
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("temp dir not empty after Close: %v", left)
	}
}

func TestNewLayerFailureCleansUp(t *testing.T) {
	tmp := t.TempDir()
	tr := NewTar()
	if err := tr.Add(HostFile("x", filepath.Join(tmp, "missing"), 0o644, Owner{})); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	if _, err := NewLayer(context.Background(), tr, WithTempDir(work)); err == nil {
		t.Fatal("NewLayer succeeded with a missing host file")
	}
	if left, _ := os.ReadDir(work); len(left) != 0 {
		t.Errorf("temp files left after a failure: %v", left)
	}
}

// buildTree writes the same logical tree in two different host ways.
func buildTree(t *testing.T, dir string, variant int) {
	t.Helper()
	files := []struct {
		name, content string
		mode          os.FileMode
	}{
		{"bin/tool", "#!/bin/sh\necho hi\n", 0o755},
		{"lib/a.so", strings.Repeat("a", 5000), 0o644},
		{"lib/b.so", strings.Repeat("b", 7000), 0o644},
		{"share/doc/README", "doc", 0o644},
		{"share/doc/README.copy", "doc", 0o644},
	}
	if variant == 1 {
		for i, j := 0, len(files)-1; i < j; i, j = i+1, j-1 {
			files[i], files[j] = files[j], files[i]
		}
	}
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.name))
		if variant == 1 && f.name == "share/doc/README.copy" {
			continue // made a hardlink below
		}
		testutil.WriteFile(t, p, f.content, f.mode)
	}
	if variant == 1 {
		if err := os.Link(filepath.Join(dir, "share/doc/README"), filepath.Join(dir, "share/doc/README.copy")); err != nil {
			t.Fatal(err)
		}
	}
	mustSymlink(t, "../lib/a.so", filepath.Join(dir, "bin", "a"))
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.IsDir() {
			if err := os.Chmod(p, 0o755); err != nil {
				return err
			}
		}
		if variant == 1 {
			if os.Geteuid() == 0 {
				if err := os.Lchown(p, 4242, 4343); err != nil {
					return err
				}
			}
			if fi.Mode()&os.ModeSymlink == 0 {
				when := time.Unix(1_600_000_000+rand.Int64N(1e6), rand.Int64N(1e9))
				return os.Chtimes(p, when, when)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func layerFromDir(t *testing.T, dir string) (v1.Hash, v1.Hash) {
	t.Helper()
	tr := NewTar()
	if err := tr.AddDir(context.Background(), dir, "layers/bp/tools", DirOptions{Owner: Owner{UID: 1000, GID: 1000}}); err != nil {
		t.Fatal(err)
	}
	l, err := NewLayer(context.Background(), tr)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	diffID, _ := l.DiffID()
	digest, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return diffID, digest
}

// Two writes of the same tree, laid down in a different order with
// different times, owners and hardlinks, give the same diffID and digest.
func TestLayerReproducible(t *testing.T) {
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	buildTree(t, a, 0)
	buildTree(t, b, 1)
	diffA, digA := layerFromDir(t, a)
	diffB, digB := layerFromDir(t, b)
	if diffA != diffB || digA != digB {
		t.Errorf("same tree gave different layers:\n a: %s %s\n b: %s %s", diffA, digA, diffB, digB)
	}
	// Control: one changed byte changes both.
	buildTree(t, c, 0)
	testutil.WriteFile(t, filepath.Join(c, "lib", "b.so"), strings.Repeat("b", 6999)+"c", 0o644)
	diffC, digC := layerFromDir(t, c)
	if diffC == diffA || digC == digA {
		t.Error("a changed tree gave the same layer")
	}
}

func TestLayerFromTar(t *testing.T) {
	ctx := context.Background()
	tr := sampleTar(t)
	ref, err := NewLayer(ctx, tr)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	refDiff, _ := ref.DiffID()
	refDig, _ := ref.Digest()
	refSize, _ := ref.Size()

	// A copy of the tar outside the reference layer, as a cache keeps it.
	cached := filepath.Join(t.TempDir(), refDiff.String()+".tar")
	if err := os.WriteFile(cached, readAll(t, ref.Uncompressed), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("known diffID", func(t *testing.T) {
		work := t.TempDir()
		l, err := LayerFromTar(cached, refDiff, WithTempDir(work))
		if err != nil {
			t.Fatalf("LayerFromTar: %v", err)
		}
		if left, _ := os.ReadDir(work); len(left) != 0 {
			t.Errorf("compressed before use: %v", left)
		}
		dig, err := l.Digest()
		if err != nil {
			t.Fatalf("Digest: %v", err)
		}
		size, _ := l.Size()
		if diff := cmp.Diff([]any{refDig, refSize}, []any{dig, size}); diff != "" {
			t.Errorf("digest and size differ from NewLayer's (-want +got):\n%s", diff)
		}
		if got := sha(readAll(t, l.Compressed)); got != refDig {
			t.Errorf("compressed bytes hash to %s, want %s", got, refDig)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(cached); err != nil {
			t.Errorf("Close removed the caller's tar: %v", err)
		}
		if left, _ := os.ReadDir(work); len(left) != 0 {
			t.Errorf("temp files left after Close: %v", left)
		}
	})
	t.Run("wrong diffID", func(t *testing.T) {
		wrong := sha([]byte("something else"))
		l, err := LayerFromTar(cached, wrong)
		if err != nil {
			t.Fatalf("LayerFromTar: %v", err)
		}
		defer l.Close()
		if got, _ := l.DiffID(); got != wrong {
			t.Errorf("DiffID %s, want the given %s", got, wrong)
		}
		_, err = l.Digest()
		if err == nil || !strings.Contains(err.Error(), "expected "+wrong.String()) {
			t.Errorf("Digest error %v, want a diffID mismatch", err)
		}
		if _, err := l.Compressed(); err == nil {
			t.Error("Compressed succeeded despite the mismatch")
		}
	})
	t.Run("cancelled compression", func(t *testing.T) {
		l, err := LayerFromTar(cached, refDiff)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := l.Compress(cctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Compress: %v, want context.Canceled", err)
		}
	})
	for name, fn := range map[string]func() error{
		"missing tar":   func() error { _, err := LayerFromTar(cached+".nope", refDiff); return err },
		"bad diffID":    func() error { _, err := LayerFromTar(cached, v1.Hash{Algorithm: "md5", Hex: "00"}); return err },
		"dir, not tar":  func() error { _, err := LayerFromTar(t.TempDir(), refDiff); return err },
		"closed before": func() error { l, _ := LayerFromTar(cached, refDiff); l.Close(); _, err := l.Digest(); return err },
	} {
		t.Run(name, func(t *testing.T) {
			if fn() == nil {
				t.Error("no error")
			}
		})
	}
}

// BenchmarkNewLayer writes a ~100 MB tree of 400 files as a layer.
func BenchmarkNewLayer(b *testing.B) {
	dir := b.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	const files, size = 400, 256 << 10
	buf := make([]byte, size)
	for i := range files {
		for j := range buf {
			buf[j] = "abcdefghij\n"[rng.IntN(11)] // compressible, like text
		}
		testutil.WriteFile(b, filepath.Join(dir, fmt.Sprintf("d%02d", i%16), fmt.Sprintf("f%03d", i)), string(buf), 0o644)
	}
	ctx := context.Background()
	for _, level := range []int{DefaultCompressionLevel, 1} {
		b.Run(fmt.Sprintf("gzip-level=%d", level), func(b *testing.B) {
			b.SetBytes(files * size)
			for b.Loop() {
				tr := NewTar()
				if err := tr.AddDir(ctx, dir, "layers/bp/big", DirOptions{}); err != nil {
					b.Fatal(err)
				}
				l, err := NewLayer(ctx, tr, WithTempDir(b.TempDir()), WithCompressionLevel(level))
				if err != nil {
					b.Fatal(err)
				}
				sz, _ := l.Size()
				b.ReportMetric(float64(sz)/float64(files*size), "ratio")
				l.Close()
			}
		})
	}
}
