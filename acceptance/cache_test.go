//go:build acceptance

package acceptance

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
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
// from it and uploads nothing when nothing changed. The image is written
// through the local cache: a rebuild on the machine that saved last takes
// the layers from its local copy and fetches no layer blob.
func TestCacheImage(t *testing.T) {
	app := appSource(t)
	ref := env.reg.Host + "/kiln-test/cached-app:latest"
	cacheRef := env.reg.Host + "/kiln-test/cached-app-cache:latest"
	out := mustKiln(t, "build", ref, "--builder", env.builder, "--path", app, "--publish", "--cache-image", cacheRef)
	wantContains(t, out, "runtime: cache empty")
	cacheLayers := layerDigests(t, pull(t, cacheRef))
	// Another machine: an empty local cache dir. It goes through a proxy
	// that names the blobs it fetches.
	proxy, err := startCountingProxy(env.reg.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	pref := proxy.Host + "/kiln-test/cached-app:latest"
	pcacheRef := proxy.Host + "/kiln-test/cached-app-cache:latest"
	t.Setenv("KILN_CACHE", filepath.Join(t.TempDir(), "cache"))
	uploads := env.reg.Uploads()
	out = mustKiln(t, "build", pref, "--builder", env.builder, "--path", app, "--publish", "--cache-image", pcacheRef)
	wantContains(t, out, "runtime: cache restored, count=1")
	// The counter layer changes each build (count+1): that layer and the
	// cache image's config are the only uploads.
	if n := env.reg.Uploads() - uploads; n != 2 {
		t.Errorf("rebuild uploaded %d blobs, want 2 (the changed cache layer and the cache config)", n)
	}
	if got := fetchedOf(proxy.Fetched(), cacheLayers); len(got) == 0 {
		t.Error("the other machine fetched no cache layer blob: the proxy saw nothing")
	}
	// The same machine again: the local copy is the cache image's, so the
	// layers come from it.
	cacheLayers = layerDigests(t, pull(t, cacheRef))
	appLayers := layerDigests(t, pull(t, ref))
	uploads = env.reg.Uploads()
	out = mustKiln(t, "build", pref, "--builder", env.builder, "--path", app, "--publish", "--cache-image", pcacheRef)
	wantContains(t, out, "runtime: cache restored, count=2")
	wantNotContains(t, out, "warning")
	fetched := proxy.Fetched()
	t.Logf("blobs fetched by the rebuild: %v", fetched)
	if got := fetchedOf(fetched, cacheLayers, appLayers); len(got) != 0 {
		t.Errorf("a rebuild on the machine that saved last fetched layer blobs %v", got)
	}
	if n := env.reg.Uploads() - uploads; n != 2 {
		t.Errorf("rebuild uploaded %d blobs, want 2 (the changed cache layer and the cache config)", n)
	}
}

// layerDigests are img's layers' digests.
func layerDigests(t *testing.T, img v1.Image) map[string]bool {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		out[d.String()] = true
	}
	return out
}

// fetchedOf are the digests of fetched found in any of sets.
func fetchedOf(fetched []string, sets ...map[string]bool) []string {
	var out []string
	for _, d := range fetched {
		for _, s := range sets {
			if s[d] {
				out = append(out, d)
				break
			}
		}
	}
	return out
}
