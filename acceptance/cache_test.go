//go:build acceptance

package acceptance

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestCorruptCacheOnlyWarns: a cached layer whose files changed behind
// kiln's back is skipped with a warning and rewritten; the build succeeds.
func TestCorruptCacheOnlyWarns(t *testing.T) {
	app := appSource(t)
	name := "cache/corrupt"
	t.Setenv("KILN_CACHE", filepath.Join(t.TempDir(), "cache")) // this app's cache alone
	mustKiln(t, "build", name, "--builder", env.builder, "--path", app)
	counts, _ := filepath.Glob(filepath.Join(os.Getenv("KILN_CACHE"), "layers", "*", "committed", "*.d", "count"))
	if len(counts) != 1 {
		t.Fatalf("cached counter files: %v", counts)
	}
	if err := os.WriteFile(counts[0], []byte("garbage that is longer\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := mustKiln(t, "build", name, "--builder", env.builder, "--path", app)
	wantContains(t, out, "warning: cache: skipping layer kiln-test/runtime:cache", "runtime: cache empty")
	// The next build has a good cache again.
	out = mustKiln(t, "build", name, "--builder", env.builder, "--path", app)
	wantContains(t, out, "runtime: cache restored")
	wantNotContains(t, out, "warning: cache")
}

// TestConcurrentBuilds: two builds of one app at once both succeed and
// leave a cache the next build restores.
func TestConcurrentBuilds(t *testing.T) {
	app := appSource(t)
	name := "cache/concurrent"
	var wg sync.WaitGroup
	results := make([]result, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = kiln(t, "build", name, "--builder", env.builder, "--path", app)
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("build %d exited %d", i, r.code)
		}
	}
	out := mustKiln(t, "build", name, "--builder", env.builder, "--path", app)
	wantContains(t, out, "runtime: cache restored")
	wantNotContains(t, out, "warning")
}

// TestReproducibleAcrossOwnersAndPaths: the same source at another path,
// owned by another user and with other mtimes gives the same digest.
func TestReproducibleAcrossOwnersAndPaths(t *testing.T) {
	a := appSource(t)
	b := filepath.Join(t.TempDir(), "elsewhere", "deeper", "app")
	os.MkdirAll(filepath.Dir(b), 0o755)
	copyTree(t, a, b)
	old := time.Date(2011, 2, 3, 4, 5, 6, 0, time.UTC)
	filepath.Walk(b, func(p string, _ os.FileInfo, _ error) error {
		os.Lchown(p, 4242, 4343)
		return os.Chtimes(p, old, old)
	})
	d1 := builtDigest(t, mustKiln(t, "build", "repro/owner", "--builder", env.builder, "--path", a, "--output", "oci:"+filepath.Join(t.TempDir(), "a")))
	d2 := builtDigest(t, mustKiln(t, "build", "repro/owner", "--builder", env.builder, "--path", b, "--output", "oci:"+filepath.Join(t.TempDir(), "b")))
	if d1 != d2 {
		t.Errorf("digests differ: %s vs %s", d1, d2)
	}
}

// TestCacheImage: the cache lives in a registry image; a rebuild restores
// from it and uploads nothing when nothing changed.
func TestCacheImage(t *testing.T) {
	app := appSource(t)
	ref := env.reg.Host + "/kiln-test/cached-app:latest"
	cacheRef := env.reg.Host + "/kiln-test/cached-app-cache:latest"
	out := mustKiln(t, "build", ref, "--builder", env.builder, "--path", app, "--publish", "--cache-image", cacheRef)
	wantContains(t, out, "runtime: cache empty")
	pull(t, cacheRef)
	// Another machine: an empty local cache dir.
	t.Setenv("KILN_CACHE", filepath.Join(t.TempDir(), "cache"))
	uploads := env.reg.Uploads()
	out = mustKiln(t, "build", ref, "--builder", env.builder, "--path", app, "--publish", "--cache-image", cacheRef)
	wantContains(t, out, "runtime: cache restored, count=1")
	// The counter layer changes each build (count+1): that layer and the
	// cache image's config are the only uploads.
	if n := env.reg.Uploads() - uploads; n != 2 {
		t.Errorf("rebuild uploaded %d blobs, want 2 (the changed cache layer and the cache config)", n)
	}
}
