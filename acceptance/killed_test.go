//go:build acceptance

package acceptance

import (
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestKilled: kill -9 of kiln during the build phase, during export and
// during a push leaves a cache the next build uses, no container, and a
// work dir that the next kiln (build or prune) removes.
//
// Killed in the build phase, the cache is as it was before (the runtime
// buildpack's counter, which it had already rewritten in place, comes back
// as it was: count=1). Killed after it (export, push), the cache is the one
// that build would have saved: its build phase had finished (count=2).
func TestKilled(t *testing.T) {
	for _, tc := range []struct {
		name     string
		publish  bool
		args     []string
		trigger  string // kill once a line of output holds this
		wantNext string
		prune    bool // clean up with kiln prune before the next build
	}{
		{name: "build", args: []string{"--env", "SLEEP_BUILD=600"}, trigger: "app: sleeping",
			wantNext: "runtime: cache restored, count=1"},
		{name: "export", trigger: "===> EXPORTING", wantNext: "runtime: cache restored, count=2", prune: true},
		{name: "push", publish: true, trigger: "===> EXPORTING", wantNext: "runtime: cache restored, count=2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cacheDir := filepath.Join(t.TempDir(), "cache")
			t.Setenv("KILN_CACHE", cacheDir)
			app := appSource(t)
			name := "killed/" + tc.name
			var stall *stallingProxy
			extra := []string{}
			if tc.publish {
				stall = startStallingProxy(t, env.reg.Host)
				name = stall.Host + "/kiln-test/killed-push:latest"
				extra = append(extra, "--publish")
			}
			build := append([]string{"build", name, "--builder", env.builder, "--path", app}, extra...)
			wantContains(t, mustKiln(t, build...), "runtime: cache empty")

			// Something for export to work on: a new 64 MiB layer.
			big := make([]byte, 64<<20)
			rand.Read(big)
			if err := os.WriteFile(filepath.Join(app, "static", "big.bin"), big, 0o644); err != nil {
				t.Fatal(err)
			}
			if stall != nil {
				stall.arm()
			}
			k := startKiln(t, append(build, tc.args...)...)
			if !k.waitFor(tc.trigger, 3*time.Minute) {
				k.kill()
				t.Fatalf("no %q in the output:\n%s", tc.trigger, k.output())
			}
			if tc.name == "build" && len(containersUnder(t, cacheDir)) == 0 {
				t.Errorf("no container runs during the build phase")
			}
			if stall != nil {
				select {
				case <-stall.stalled:
				case <-time.After(2 * time.Minute):
					t.Fatalf("no blob upload started:\n%s", k.output())
				}
			} else if tc.name == "export" {
				time.Sleep(100 * time.Millisecond)
			}
			if err := k.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			if _, ok := k.wait(30 * time.Second); !ok {
				t.Fatal("kiln did not die")
			}
			out := k.output()
			t.Logf("killed kiln's output:\n%s", out)
			wantNotContains(t, out, "===> IMAGE") // killed before the image was written

			// The supervisor follows kiln (parent death signal) and takes
			// the container with it.
			deadline := time.Now().Add(15 * time.Second)
			left := containersUnder(t, cacheDir)
			for len(left) > 0 && time.Now().Before(deadline) {
				time.Sleep(200 * time.Millisecond)
				left = containersUnder(t, cacheDir)
			}
			if len(left) > 0 {
				t.Errorf("containers left behind: %v", left)
			}
			if w, _ := filepath.Glob(filepath.Join(cacheDir, "work", "build-*")); len(w) != 1 {
				t.Errorf("work dirs after the kill: %v, want the killed build's", w)
			}

			if tc.prune {
				out := mustKiln(t, "prune")
				wantContains(t, out, "pruned work dir left by a killed build", "freed ")
			}
			if stall != nil {
				stall.disarm()
			}
			out = mustKiln(t, build...)
			wantContains(t, out, tc.wantNext)
			wantNotContains(t, out, "warning")
			if w, _ := filepath.Glob(filepath.Join(cacheDir, "work", "*")); len(w) > 0 {
				t.Errorf("work dirs left: %v", w)
			}
			for _, n := range []string{"journal", "kept", "staging", "old"} {
				if m, _ := filepath.Glob(filepath.Join(cacheDir, "layers", "*", n)); len(m) > 0 {
					t.Errorf("left in the cache: %v", m)
				}
			}
			if m := mountsUnder(t, rootStageDir, cacheDir); len(m) > 0 {
				t.Errorf("mounts left behind: %v", m)
			}
		})
	}
}

// stallingProxy sits in front of the registry; when armed, the first blob
// upload that sends data stalls until its client goes away.
type stallingProxy struct {
	Host    string
	stalled chan struct{}

	mu    sync.Mutex
	armed bool
}

func startStallingProxy(t *testing.T, target string) *stallingProxy {
	t.Helper()
	u, _ := url.Parse("http://" + target)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallingProxy{Host: l.Addr().String(), stalled: make(chan struct{})}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch && strings.Contains(r.URL.Path, "/blobs/uploads/") && p.take() {
			close(p.stalled)
			io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20)) // the push is under way
			<-r.Context().Done()
			return
		}
		// The registry makes Location headers from the Host header: ours.
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return p
}

func (p *stallingProxy) arm()    { p.mu.Lock(); p.armed = true; p.mu.Unlock() }
func (p *stallingProxy) disarm() { p.mu.Lock(); p.armed = false; p.mu.Unlock() }

// take disarms the proxy and says whether it was armed.
func (p *stallingProxy) take() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	was := p.armed
	p.armed = false
	return was
}
