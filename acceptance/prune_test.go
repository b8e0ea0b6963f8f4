//go:build acceptance

package acceptance

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/workdir"
)

// TestCacheCap: 50 builds of different apps with a small KILN_CACHE_MAX
// keep kiln's cache dir under it (least recently used layer caches go;
// the builder's root file system, in use, stays), and kiln prune says what
// it frees.
func TestCacheCap(t *testing.T) {
	cacheDir := filepath.Join(t.TempDir(), "cache")
	t.Setenv("KILN_CACHE", cacheDir)
	t.Setenv("KILN_CACHE_MAX", "off")
	app := appSource(t)
	build := func(i int) string {
		os.WriteFile(filepath.Join(app, "static", "index.txt"), []byte(fmt.Sprintf("app %d\n", i)), 0o644)
		return mustKiln(t, "build", fmt.Sprintf("cap/app-%02d", i), "--builder", env.builder, "--path", app)
	}
	build(0)
	// The root file system and the launch check's index of the run image
	// stay; they count toward the cap.
	rootfs := usage(t, filepath.Join(cacheDir, "rootfs")) + usage(t, filepath.Join(cacheDir, "launchcheck"))
	one := usage(t, filepath.Join(cacheDir, "layers"))
	// Room for those and about five apps' caches.
	max := rootfs + 5*one + one/2
	t.Setenv("KILN_CACHE_MAX", strconv.FormatInt(max, 10))
	t.Logf("root file system %d bytes, one app's cache %d bytes: cap %d", rootfs, one, max)
	const slack = 64 << 10
	evicted := 0
	for i := 1; i < 50; i++ {
		out := build(i)
		// The cap is on the layer caches and root file systems (the cache
		// dir itself and its work dir, empty between builds, take 8 KiB).
		if got := usage(t, filepath.Join(cacheDir, "layers")) + usage(t, filepath.Join(cacheDir, "rootfs")) + usage(t, filepath.Join(cacheDir, "launchcheck")); got > max {
			t.Fatalf("after build %d layers/ and rootfs/ take %d bytes, over the cap %d:\n%s", i, got, max, out)
		}
		if got := usage(t, cacheDir); got > max+slack {
			t.Fatalf("after build %d the cache dir takes %d bytes, over the cap %d:\n%s", i, got, max, out)
		}
		if i > 6 {
			wantContains(t, out, "pruned layer cache")
		}
		evicted += strings.Count(out, "pruned layer cache")
		wantNotContains(t, out, "pruned root file system", "warning")
	}
	caches, _ := filepath.Glob(filepath.Join(cacheDir, "layers", "*"))
	t.Logf("%d evictions; %d caches left; cache dir %d bytes (cap %d)", evicted, len(caches), usage(t, cacheDir), max)
	if len(caches) > 6 || len(caches) < 4 {
		t.Errorf("%d app caches left, want about 5", len(caches))
	}
	// The newest app keeps its cache.
	out := build(49)
	wantContains(t, out, "runtime: cache restored")

	out = mustKiln(t, "prune", "--max-size", strconv.FormatInt(rootfs+one*3/2, 10))
	wantContains(t, out, "pruned layer cache", "freed ")
	if caches, _ := filepath.Glob(filepath.Join(cacheDir, "layers", "*")); len(caches) != 1 {
		t.Errorf("after prune --max-size: %d caches, want 1", len(caches))
	}
	out = mustKiln(t, "prune", "--all")
	wantContains(t, out, "pruned layer cache", "pruned root file system", "freed ")
	if got := usage(t, cacheDir); got > slack {
		t.Errorf("after prune --all the cache dir takes %d bytes", got)
	}
	// A pruned cache is only a cold start.
	wantContains(t, build(49), "runtime: cache empty")
}

func usage(t *testing.T, dir string) int64 {
	t.Helper()
	n, err := workdir.DiskUsage(dir)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
