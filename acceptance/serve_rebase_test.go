//go:build acceptance

package acceptance

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/service"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// TestServeRebasesMovedRunImages: when the run image an app sits on
// moves, kiln serve rebases the app by itself (--watch-run-images) and on
// POST /api/rebase, and the rebase shows in the app's history like a
// build; an app already current is left alone.
func TestServeRebasesMovedRunImages(t *testing.T) {
	h := env.reg.Host
	run := h + "/serve-rebase/run:latest"
	pushImage(t, run, env.runImg)
	dir := t.TempDir()
	bps, err := filepath.Abs(filepath.Join("testdata", "buildpacks"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "builder.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`[[buildpacks]]
uri = %q
[[buildpacks]]
uri = %q
[[order]]
[[order.group]]
id = "kiln-test/runtime"
[[order.group]]
id = "kiln-test/app"
[build]
image = %q
[[run.images]]
image = %q
`, filepath.Join(bps, "runtime"), filepath.Join(bps, "app"), env.buildImage, run)), 0o644); err != nil {
		t.Fatal(err)
	}
	builderRef := h + "/serve-rebase/builder:latest"
	mustKiln(t, "builder", "create", builderRef, "--config", cfg, "--publish")

	prefix := h + "/serve-rebase/apps"
	k := startServe(t, filepath.Join(dir, "admin-token"), []string{"KILN_CACHE=" + filepath.Join(dir, "cache")},
		"--listen", freeAddr(t), "--data", filepath.Join(dir, "data"), "--registry-prefix", prefix, "--watch-run-images", "1s")
	k.mustCall("POST", "/api/apps", map[string]any{"name": "web", "builder": builderRef}, nil)
	first := k.waitFinal(k.start("web", tarGz(t, appSource(t))).ID)
	if first.Status != service.StatusSucceeded {
		t.Fatalf("build: %+v\n%s", first, k.log(first.ID))
	}
	var checks []service.RunImageCheck
	k.mustCall("POST", "/api/rebase", nil, &checks)
	if len(checks) != 1 || checks[0].App != "web" || checks[0].Outcome != "current" {
		t.Fatalf("before the run image moved: %+v", checks)
	}

	// An app that asked to be rebuilt when its builder changes is, from
	// the source of its last successful build; web, which did not ask,
	// is left as it is.
	k.mustCall("POST", "/api/apps", map[string]any{"name": "api", "builder": builderRef, "rebuild_on_builder_change": true}, nil)
	apiFirst := k.waitFinal(k.start("api", tarGz(t, appSource(t))).ID)
	if apiFirst.Status != service.StatusSucceeded {
		t.Fatalf("api build: %+v\n%s", apiFirst, k.log(apiFirst.ID))
	}
	if err := os.WriteFile(cfg, append([]byte("description = \"builder, take two\"\n"), mustRead(t, cfg)...), 0o644); err != nil {
		t.Fatal(err)
	}
	mustKiln(t, "builder", "create", builderRef, "--config", cfg, "--publish")
	newBuilder := pinned(t, builderRef).DigestStr()
	// POST /api/rebase, or the watcher just before it, queues the rebuild
	k.mustCall("POST", "/api/rebase", nil, &checks)
	got := map[string]service.RunImageCheck{}
	for _, c := range checks {
		got[c.App] = c
	}
	if got["web"].Outcome != "current" || (got["api"].Outcome != "rebuilding" && got["api"].Outcome != "busy") {
		t.Fatalf("after the builder changed: %+v", checks)
	}
	rebuildID := int64(0)
	for until := time.Now().Add(60 * time.Second); rebuildID == 0; {
		if time.Now().After(until) {
			t.Fatalf("no rebuild of api after its builder changed:\n%s", k.output())
		}
		var builds []service.Build
		k.mustCall("GET", "/api/apps/api/builds", nil, &builds)
		for _, b := range builds {
			if b.Trigger == service.TriggerBuilder {
				rebuildID = b.ID
			}
		}
		if rebuildID == 0 {
			time.Sleep(200 * time.Millisecond)
		}
	}
	rebuilt := k.waitFinal(rebuildID)
	if rebuilt.Status != service.StatusSucceeded || rebuilt.Trigger != service.TriggerBuilder {
		t.Fatalf("rebuild: %+v\n%s", rebuilt, k.log(rebuilt.ID))
	}
	ac, _ := pull(t, prefix+"/api:latest").ConfigFile()
	if b := ac.Config.Labels[labels.KilnBuilder]; !strings.HasSuffix(b, "@"+newBuilder) {
		t.Errorf("the rebuilt app records builder %s, want digest %s", b, newBuilder)
	}
	k.mustCall("POST", "/api/rebase", nil, &checks)
	for _, c := range checks {
		if c.Outcome != "current" {
			t.Errorf("after the rebuild: %+v", c)
		}
	}

	patched := patchedRunImage(t, env.runImg, "serve patch\n", nil)
	pushImage(t, run, patched)
	newRun, _ := patched.Digest()
	// the watcher finds it and queues a rebase, which shows in the history
	var rebaseBuild service.Build
	deadline := time.Now().Add(90 * time.Second)
	for rebaseBuild.ID == 0 {
		var builds []service.Build
		k.mustCall("GET", "/api/apps/web/builds", nil, &builds)
		for _, b := range builds {
			if b.Trigger == service.TriggerRebase {
				rebaseBuild = b
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rebase after the run image moved:\n%s", k.output())
		}
		time.Sleep(300 * time.Millisecond)
	}
	done := k.waitFinal(rebaseBuild.ID)
	if done.Status != service.StatusSucceeded || done.Digest == first.Digest || !strings.HasPrefix(done.Digest, "sha256:") {
		t.Fatalf("rebase: %+v\n%s", done, k.log(done.ID))
	}
	wantContains(t, k.log(done.ID), "Successfully rebased", "new run image: "+h+"/serve-rebase/run@"+newRun.String())
	img := pull(t, prefix+"/web:latest")
	if d, _ := img.Digest(); d.String() != done.Digest {
		t.Errorf("the app's tag is %s, the rebase published %s", d, done.Digest)
	}
	c, _ := img.ConfigFile()
	var md labels.Lifecycle
	labels.Decode(c, labels.LifecycleMetadata, &md)
	if !strings.HasSuffix(md.RunImage.Reference, newRun.String()) {
		t.Errorf("the rebased app records run image %s, want %s", md.RunImage.Reference, newRun)
	}
	// now current: nothing more is queued
	k.mustCall("POST", "/api/rebase", nil, &checks)
	for _, c := range checks {
		if c.Outcome != "current" {
			t.Errorf("after the rebase: %+v", c)
		}
	}
	// a deploy token may not ask for it
	var tok struct{ Token string }
	k.mustCall("POST", "/api/apps/web/tokens", nil, &tok)
	req, _ := http.NewRequest("POST", k.url+"/api/rebase", nil)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("POST /api/rebase with a deploy token: %d, want 403", resp.StatusCode)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
