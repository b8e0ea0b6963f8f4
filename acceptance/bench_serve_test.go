//go:build acceptance

package acceptance

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// benchServePush: `git push` to kiln serve until the image is published,
// for a one-line change of the Go sample, next to `kiln build --publish`
// of the same change in the same run (target: the push at most 1.3x the
// build). Both are warm: each built the sample once before. kiln serve
// uses the default builder (prepareRunImage made it) and publishes
// through the counting proxy, as the build does. Call it from
// BenchmarkKiln after prepareRunImage.
func (be *benchEnv) benchServePush(b *testing.B, table *benchTable) {
	sample := ""
	for _, n := range []string{"go", "go-http", "go-web"} {
		if _, err := os.Stat(filepath.Join("..", "samples", n, "go.mod")); err == nil {
			sample = n
			break
		}
	}
	if sample == "" {
		b.Fatal("no Go sample under samples/")
	}
	s := startGitServe(b, be.proxy.Host+"/bench-serve")
	pushDir := copySample(b, sample)                                            // a git repository
	buildDir := copyTree(b, pushDir, filepath.Join(b.TempDir(), sample+"-cli")) // the same tree without .git
	gitCommitAll(b, pushDir, "sample")
	url := s.gitURL(s.token, "bench-"+sample)
	ref := be.proxy.Host + "/bench-serve/cli-" + sample + ":latest"
	push := func() time.Duration {
		var out string
		d := timed(func() { out = mustGitRun(b, pushDir, "push", "-q", url, "main") })
		if !pushedImage.MatchString(out) {
			b.Fatalf("the push did not end with the image:\n%s", out)
		}
		return d
	}
	build := func(ref string, extra ...string) time.Duration {
		args := append([]string{"build", ref, "--path", buildDir, "--publish"}, extra...)
		return timed(func() { mustKiln(b, args...) })
	}
	// What a kiln serve worker runs: the layer cache in a registry image,
	// written through a local cache of its own (another app name: builds
	// without the image would otherwise replace that local copy each time).
	cref := be.proxy.Host + "/bench-serve/cli-cached-" + sample + ":latest"
	cacheImage := []string{"--cache-image", be.proxy.Host + "/bench-serve/cli-cached-" + sample + ":cache"}
	change := func(i int) {
		for _, dir := range []string{pushDir, buildDir} {
			f, _ := mainFile(dir)
			fh, err := os.OpenFile(f, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				b.Fatal(err)
			}
			fmt.Fprintf(fh, "// bench: one-line change %d\n", i)
			fh.Close()
		}
		gitCommitAll(b, pushDir, "one-line change")
	}
	push() // warm: the app's cache image and the toolchain
	build(ref)
	build(cref, cacheImage...)
	var pushes, builds, cached []time.Duration
	for i := range 3 {
		change(i)
		pushes = append(pushes, push())
		builds = append(builds, build(ref))
		cached = append(cached, build(cref, cacheImage...))
	}
	p, k, c := median(pushes), median(builds), median(cached)
	table.add(sample, "git push to kiln serve -> image published, one-line change (median of 3)",
		secs(p), secs(k)+" kiln build --publish (target ratio <= 1.30)", ratio(p, k))
	table.add(sample, "the same push vs kiln build --publish --cache-image (as serve's worker builds)",
		secs(p), secs(c), ratio(p, c))
	table.add(sample, "kiln build --publish --cache-image vs kiln build --publish, one-line change (median of 3)",
		secs(c), secs(k), ratio(c, k))
}

// BenchmarkServePush runs benchServePush alone:
// KILN_BENCH_ONLY=ServePush go test -tags acceptance -run '^$' -bench ServePush -benchtime 1x ./acceptance/
func BenchmarkServePush(b *testing.B) {
	if os.Getenv("KILN_BENCH_ONLY") != "ServePush" {
		b.Skip("BenchmarkKiln runs it; set KILN_BENCH_ONLY=ServePush to run it alone")
	}
	proxy, err := startCountingProxy(env.reg.Host)
	if err != nil {
		b.Fatal(err)
	}
	defer proxy.Close()
	be := &benchEnv{proxy: proxy}
	table := &benchTable{}
	be.prepareRunImage(b)
	be.benchServePush(b, table)
	fmt.Println()
	table.print(os.Stdout)
}
