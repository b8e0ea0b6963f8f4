//go:build acceptance

package acceptance

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestCorruptCacheOnlyWarns: a cache tar that no longer matches its
// diffID is skipped with a warning and rewritten; the build succeeds.
func TestCorruptCacheOnlyWarns(t *testing.T) {
	app := appSource(t)
	name := "cache/corrupt"
	mustKiln(t, "build", name, "--builder", env.builder, "--path", app)
	tars, _ := filepath.Glob(filepath.Join(os.Getenv("KILN_CACHE"), "layers", "*", "committed", "*.tar"))
	if len(tars) == 0 {
		t.Fatal("no cache tars found")
	}
	for _, p := range tars {
		if err := os.Truncate(p, 512); err != nil {
			t.Fatal(err)
		}
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
	if out, err := exec.Command("cp", "-r", a, b).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
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
