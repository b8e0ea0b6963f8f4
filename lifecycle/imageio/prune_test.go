package imageio

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"
)

func blobCount(t *testing.T, dir string) int {
	t.Helper()
	e, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	return len(e)
}

func TestPruneKeepsReferencedBlobs(t *testing.T) {
	ctx := context.Background()
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, _ := random.Image(512, 2)
	b, _ := random.Image(512, 3)
	if err := s.Put(ctx, "app/a", a); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "app/b", b); err != nil {
		t.Fatal(err)
	}
	before := blobCount(t, s.Dir()) // 2 manifests, 2 configs, 5 layers
	res, err := s.Prune(ctx, PruneOptions{})
	if err != nil || res.Blobs != 0 {
		t.Fatalf("Prune of a store with nothing unused = %+v, %v", res, err)
	}
	// Replace a, and leave a temp file as a killed write would.
	a2, _ := random.Image(512, 1)
	if err := s.Put(ctx, "app/a", a2); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(s.Dir(), "blobs", "sha256", "abc123tmp"), []byte("partial"), 0o644)

	// With a grace period, the blobs of the replaced image stay at first.
	res, err = s.Prune(ctx, PruneOptions{Grace: time.Hour})
	if err != nil || res.Blobs != 1 {
		t.Fatalf("Prune with grace = %+v, %v; want only the temp file", res, err)
	}
	res, err = s.Prune(ctx, PruneOptions{})
	if err != nil || res.Blobs != 4 || res.Freed <= 0 {
		t.Fatalf("Prune = %+v, %v; want a's manifest, config and 2 layers", res, err)
	}
	if got := blobCount(t, s.Dir()); got != before-4+3 {
		t.Errorf("%d blobs left, want %d", got, before-4+3)
	}
	for _, n := range []string{"app/a", "app/b"} {
		img, err := s.Image(n)
		if err != nil {
			t.Fatal(err)
		}
		ls, _ := img.Layers()
		for _, l := range ls {
			rc, err := l.Compressed()
			if err != nil {
				t.Fatalf("%s: a layer went: %v", n, err)
			}
			rc.Close()
		}
	}
}

// With Every, a scan soon after the last one is skipped; once the last is
// older, the store is scanned again.
func TestPruneEvery(t *testing.T) {
	ctx := context.Background()
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, _ := random.Image(512, 1)
	if err := s.Put(ctx, "app/a", a); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prune(ctx, PruneOptions{Every: time.Hour}); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(s.Dir(), "blobs", "sha256", "abc123tmp")
	if err := os.WriteFile(tmp, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	if res, err := s.Prune(ctx, PruneOptions{Every: time.Hour}); err != nil || res.Blobs != 0 {
		t.Fatalf("a scan right after the last = %+v, %v; want it skipped", res, err)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(filepath.Join(s.Dir(), scannedName), old, old); err != nil {
		t.Fatal(err)
	}
	if res, err := s.Prune(ctx, PruneOptions{Every: time.Hour}); err != nil || res.Blobs != 1 {
		t.Fatalf("a scan an hour after the last = %+v, %v; want the temp file gone", res, err)
	}
	// Without Every (kiln prune), the store is always scanned.
	if err := os.WriteFile(tmp, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	if res, err := s.Prune(ctx, PruneOptions{}); err != nil || res.Blobs != 1 {
		t.Fatalf("Prune without Every = %+v, %v", res, err)
	}
}
