//go:build acceptance

package acceptance

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/kiln-build/kiln/lifecycle/labels"
)

// recordingProxy is an HTTP(S) proxy that answers nothing and records
// every host asked for: set as HTTPS_PROXY, it shows whether kiln reached
// for a registry other than the local test one (which is never proxied).
type recordingProxy struct {
	*httptest.Server
	mu    sync.Mutex
	hosts []string
}

func startRecordingProxy(t *testing.T) *recordingProxy {
	p := &recordingProxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.hosts = append(p.hosts, r.Host)
		p.mu.Unlock()
		http.Error(w, "no outside registries in this test", http.StatusForbidden)
	}))
	t.Cleanup(p.Close)
	t.Setenv("HTTPS_PROXY", p.URL)
	t.Setenv("HTTP_PROXY", p.URL)
	t.Setenv("NO_PROXY", "")
	return p
}

func (p *recordingProxy) asked() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.hosts...)
}

func runImageOf(t *testing.T, img v1.Image) labels.RunImage {
	t.Helper()
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	var md labels.Lifecycle
	if ok, err := labels.Decode(cfg, labels.LifecycleMetadata, &md); !ok || err != nil {
		t.Fatalf("lifecycle label: %v %v", ok, err)
	}
	return md.RunImage
}

// TestPublishedRunImage builds a sample with the default builder, whose
// run image is only in the local store, and --publish: the run image is
// published beside the app and recorded there, pullable by anyone. From
// an empty store and cache, the app is rebased onto a patched run image
// pushed to that repository, and runs. An app recording a store-only run
// image name is refused with a clear message and no Docker Hub request.
func TestPublishedRunImage(t *testing.T) {
	shippedStack(t) // the stack cache the default builder uses
	useKilnBuildpacks(t)
	t.Setenv("KILN_BUILDER", "")
	const greeting = "Hello from the kiln static sample!"
	ref := env.reg.Host + "/kiln-pub/team/static:latest"
	runRepo := env.reg.Host + "/kiln-pub/team/run"
	out := mustKiln(t, "build", ref, "--path", copySample(t, "static"), "--publish")
	wantContains(t, out, "BUILDER kiln/default-builder:latest", "PUBLISHED RUN IMAGE "+runRepo+"@sha256:")

	ri := runImageOf(t, pull(t, ref))
	if ri.Image != runRepo+":latest" || !strings.HasPrefix(ri.Reference, runRepo+"@sha256:") || len(ri.Mirrors) != 0 {
		t.Fatalf("recorded run image %+v, want %s:latest by digest, no mirrors", ri, runRepo)
	}
	run := pull(t, ri.Reference) // as crane pull would
	if d, _ := run.Digest(); !strings.HasSuffix(ri.Reference, d.String()) {
		t.Errorf("pulled run image %s, recorded %s", d, ri.Reference)
	}

	// The default stack and builder published for CI.
	prefix := env.reg.Host + "/kiln-pub/ci"
	out = mustKiln(t, "builder", "default", "--publish", prefix)
	wantContains(t, out, prefix+"/builder:latest", "published "+prefix+"/run:latest@sha256:")

	// Elsewhere: nothing local, no outside registry.
	t.Setenv("KILN_STORE", t.TempDir())
	t.Setenv("KILN_CACHE", t.TempDir())
	proxy := startRecordingProxy(t)

	// CI builds with the published builder: its run image is in a
	// registry and recorded as it is.
	ciRef := env.reg.Host + "/kiln-pub/team/ci-static:latest"
	out = mustKiln(t, "build", ciRef, "--builder", prefix+"/builder:latest", "--path", copySample(t, "static"), "--publish")
	wantNotContains(t, out, "PUBLISHED RUN IMAGE")
	if got := runImageOf(t, pull(t, ciRef)); got.Image != prefix+"/run:latest" || !strings.HasPrefix(got.Reference, prefix+"/run@sha256:") {
		t.Errorf("the CI build records %+v, want %s/run:latest", got, prefix)
	}
	patched := patchedRunImage(t, run, "patched\n", nil)
	pushImage(t, runRepo+":latest", patched)
	out = mustKiln(t, "rebase", ref, "--publish")
	newRun, _ := patched.Digest()
	wantContains(t, out, "new run image: "+runRepo+"@"+newRun.String(), "Successfully rebased")
	if got := runImageOf(t, pull(t, ref)); got.Reference != runRepo+"@"+newRun.String() || got.Image != runRepo+":latest" {
		t.Errorf("after the rebase the app records %+v", got)
	}
	if got := runAndGet(t, ref, freePort(t)); !strings.Contains(got, greeting) {
		t.Errorf("GET / = %q, want it to contain %q", got, greeting)
	}

	// An app that records a store-only name (as kiln did before).
	legacy := env.reg.Host + "/kiln-pub/team/legacy:latest"
	app := pull(t, ref)
	cfg, err := app.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	var md labels.Lifecycle
	if _, err := labels.Decode(cfg, labels.LifecycleMetadata, &md); err != nil {
		t.Fatal(err)
	}
	md.RunImage.Image = "kiln/debian-bookworm-run:latest"
	md.RunImage.Reference = "index.docker.io/kiln/debian-bookworm-run@" + newRun.String()
	cfg = cfg.DeepCopy()
	if cfg.Config.Labels[labels.LifecycleMetadata], err = labels.Encode(md); err != nil {
		t.Fatal(err)
	}
	if app, err = mutate.ConfigFile(app, cfg); err != nil {
		t.Fatal(err)
	}
	pushImage(t, legacy, app)
	r := kiln(t, "rebase", legacy, "--publish")
	if r.code != 73 {
		t.Errorf("rebase of an app recording a store-only run image: exit %d, want 73", r.code)
	}
	wantContains(t, r.out, "kiln/debian-bookworm-run:latest", "names no registry", "--run-image")
	// With --run-image it goes through.
	out = mustKiln(t, "rebase", legacy, "--publish", "--run-image", runRepo+":latest", "--force")
	wantContains(t, out, "Successfully rebased")
	if hosts := proxy.asked(); len(hosts) != 0 {
		t.Errorf("kiln asked outside registries: %q", hosts)
	}
}
