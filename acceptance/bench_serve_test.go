//go:build acceptance

package acceptance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
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
	sample := goSampleName(b)
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

// benchServeDrain: ten builds of ten small apps (the test builder's app),
// queued at once through kiln serve's API, drained by one worker and by
// two (--workers 1 and 2 on SQLite); the time from the first request
// until all ten finished. Each run has its own data dir, kiln cache and
// registry path, so neither reuses the other's layers.
func (be *benchEnv) benchServeDrain(b *testing.B, table *benchTable) {
	src := tarGz(b, appSource(b))
	drain := func(workers int) time.Duration {
		dir := b.TempDir()
		s := startGitServeArgs(b, fmt.Sprintf("%s/bench-drain-%d", env.reg.Host, workers),
			[]string{"--workers", fmt.Sprint(workers)}, "KILN_CACHE="+filepath.Join(dir, "cache"))
		var apps []string
		for i := range 10 {
			app := fmt.Sprintf("small-%d", i)
			if code := s.api(b, "POST", "/api/apps", map[string]any{"name": app, "builder": env.builder}, nil); code != 201 {
				b.Fatalf("creating %s: %d", app, code)
			}
			apps = append(apps, app)
		}
		var ids []int64
		d := timed(func() {
			for _, app := range apps {
				ids = append(ids, s.startTarball(b, app, src))
			}
			for _, id := range ids {
				if got := s.waitBuild(b, id); got.Status != "succeeded" {
					b.Fatalf("build %d: %+v", id, got)
				}
			}
		})
		return d
	}
	one := drain(1)
	two := drain(2)
	table.add("serve", "ten queued builds of ten small apps drained, 1 worker (SQLite)", secs(one), "-", "-")
	table.add("serve", "the same ten drained by 2 workers (2 shared cores)", secs(two), secs(one)+" with 1 worker", ratio(two, one))
}

// startTarball posts src (a tar.gz) as a build of app and returns its id.
func (s *gitServe) startTarball(t testing.TB, app string, src []byte) int64 {
	t.Helper()
	req, _ := http.NewRequest("POST", s.url+"/api/apps/"+app+"/builds", bytes.NewReader(src))
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b struct{ ID int64 }
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("starting a build of %s: %d %v", app, resp.StatusCode, err)
	}
	return b.ID
}

// BenchmarkServeDrain runs benchServeDrain alone:
// KILN_BENCH_ONLY=ServeDrain go test -tags acceptance -run '^$' -bench ServeDrain -benchtime 1x ./acceptance/
func BenchmarkServeDrain(b *testing.B) {
	if os.Getenv("KILN_BENCH_ONLY") != "ServeDrain" {
		b.Skip("BenchmarkKiln runs it; set KILN_BENCH_ONLY=ServeDrain to run it alone")
	}
	table := &benchTable{}
	(&benchEnv{}).benchServeDrain(b, table)
	fmt.Println()
	table.print(os.Stdout)
}
