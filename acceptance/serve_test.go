//go:build acceptance

package acceptance

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/service"
)

// kserve is one `kiln serve` process of the service tests.
type kserve struct {
	t     *testing.T
	args  []string
	env   []string
	url   string // http://HOST:PORT ("" for --no-http)
	token string
	cmd   *exec.Cmd
	done  chan struct{}
	mu    sync.Mutex
	out   bytes.Buffer
}

func (k *kserve) Write(p []byte) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.out.Write(p)
}

func (k *kserve) output() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.out.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServe starts kiln serve with args (and env added to its
// environment); with --listen it waits until the API answers.
func startServe(t *testing.T, tokenFile string, env []string, args ...string) *kserve {
	t.Helper()
	k := &kserve{t: t, args: args, env: env, done: make(chan struct{})}
	for i, a := range args {
		if a == "--listen" {
			k.url = "http://" + args[i+1]
		}
	}
	k.cmd = exec.Command(envKiln(), append([]string{"serve", "--admin-token-file", tokenFile}, args...)...)
	k.cmd.Env = append(os.Environ(), env...)
	k.cmd.Stdout, k.cmd.Stderr = k, k
	if err := k.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { k.cmd.Wait(); close(k.done) }()
	t.Cleanup(func() {
		k.stop()
		if t.Failed() {
			t.Logf("kiln serve %s output:\n%s", strings.Join(args, " "), k.output())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-k.done:
			t.Fatalf("kiln serve exited:\n%s", k.output())
		case <-time.After(100 * time.Millisecond):
		}
		if b, err := os.ReadFile(tokenFile); err == nil && len(bytes.TrimSpace(b)) > 0 {
			k.token = string(bytes.TrimSpace(b))
			if k.url == "" && strings.Contains(k.output(), "worker(s)") {
				return k
			}
			if resp, err := http.Get(k.url + "/api/apps"); err == nil {
				resp.Body.Close()
				return k
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("kiln serve did not start:\n%s", k.output())
		}
	}
}

func envKiln() string { return env.kiln }

// stop ends the process with SIGTERM (graceful), killing it after a
// minute.
func (k *kserve) stop() {
	select {
	case <-k.done:
		return
	default:
	}
	k.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-k.done:
	case <-time.After(time.Minute):
		k.cmd.Process.Kill()
		<-k.done
	}
}

// kill9 ends the process with SIGKILL.
func (k *kserve) kill9() {
	k.cmd.Process.Signal(syscall.SIGKILL)
	<-k.done
}

// call calls the API with the admin token; body is JSON (any) or raw
// bytes (a tarball). It decodes a 2xx answer into out.
func (k *kserve) call(method, path string, body any, out any) int {
	k.t.Helper()
	var r io.Reader
	ctype := "application/json"
	switch b := body.(type) {
	case nil:
	case []byte:
		r, ctype = bytes.NewReader(b), "application/gzip"
	default:
		data, _ := json.Marshal(b)
		r = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, k.url+path, r)
	req.Header.Set("Authorization", "Bearer "+k.token)
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		k.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			k.t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	if resp.StatusCode >= 300 {
		k.t.Logf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	return resp.StatusCode
}

func (k *kserve) mustCall(method, path string, body any, out any) {
	k.t.Helper()
	if code := k.call(method, path, body, out); code >= 300 {
		k.t.Fatalf("%s %s: %d", method, path, code)
	}
}

func (k *kserve) build(id int64) service.Build {
	k.t.Helper()
	var b service.Build
	k.mustCall("GET", fmt.Sprintf("/api/builds/%d", id), nil, &b)
	return b
}

// waitBuild waits until build id satisfies ok (at most d).
func (k *kserve) waitBuild(id int64, d time.Duration, what string, ok func(service.Build) bool) service.Build {
	k.t.Helper()
	deadline := time.Now().Add(d)
	for {
		b := k.build(id)
		if ok(b) {
			return b
		}
		if time.Now().After(deadline) {
			k.t.Fatalf("build %d is %s after %s, not %s: %+v\n%s", id, b.Status, d, what, b, k.log(id))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func (k *kserve) waitFinal(id int64) service.Build {
	k.t.Helper()
	return k.waitBuild(id, 5*time.Minute, "final", func(b service.Build) bool { return b.Status.Final() })
}

// log is build id's full log.
func (k *kserve) log(id int64) string {
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/builds/%d/log", k.url, id), nil)
	req.Header.Set("Authorization", "Bearer "+k.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// start posts src as a tar.gz build of app and returns the build.
func (k *kserve) start(app string, src []byte) service.Build {
	k.t.Helper()
	var b service.Build
	k.mustCall("POST", "/api/apps/"+app+"/builds", src, &b)
	return b
}

// follow reads build id's log as Server-Sent Events until the end event,
// with token; it returns the text and the build the end event carries.
func (k *kserve) follow(id int64, token string) (string, service.Build) {
	k.t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/builds/%d/log", k.url, id), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		k.t.Fatal(err)
	}
	defer resp.Body.Close()
	var text strings.Builder
	var end service.Build
	event := ""
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = line[7:]
		case strings.HasPrefix(line, "data: ") && event == "end":
			json.Unmarshal([]byte(line[6:]), &end)
			return text.String(), end
		case strings.HasPrefix(line, "data: "):
			text.WriteString(line[6:] + "\n")
		case line == "":
			event = ""
		}
	}
	k.t.Fatalf("the event stream ended without an end event: %v\n%s", sc.Err(), text.String())
	return "", end
}

// tarGz packs dir as a tar.gz, names relative to it.
func tarGz(t testing.TB, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = tw.Write(data)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// TestServeSQLite: kiln serve on its embedded SQLite database builds a
// tarball posted to its API and publishes the image (which runs in
// podman) while the log streams live as Server-Sent Events; a failing
// app's build fails with its phase, exit code and reason; a running
// build is cancelled (its container gone) and the next build restores
// the registry cache; a restarted service still has every build and log;
// and a kill -9 of the service mid-build ends, after a restart, with the
// build re-run as its next attempt, not stuck running.
func TestServeSQLite(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "admin-token")
	cacheDir := filepath.Join(dir, "cache") // kiln build's cache and work dirs
	prefix := env.reg.Host + "/serve-api"
	addr := freeAddr(t)
	args := []string{"--listen", addr, "--data", filepath.Join(dir, "data"), "--registry-prefix", prefix,
		"--heartbeat", "1s", "--stale-after", "5s"}
	srvEnv := []string{"KILN_CACHE=" + cacheDir}
	k := startServe(t, tokenFile, srvEnv, args...)
	if !strings.Contains(k.output(), k.token) {
		t.Errorf("the admin token was not printed at first start:\n%s", k.output())
	}
	if fi, err := os.Stat(tokenFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin token file: %v", err)
	}
	src := tarGz(t, appSource(t))

	// An app with a deploy token; its build's log streams live.
	k.mustCall("POST", "/api/apps", map[string]any{"name": "web", "builder": env.builder}, nil)
	var tok struct{ Token string }
	k.mustCall("POST", "/api/apps/web/tokens", nil, &tok)
	var b service.Build
	req, _ := http.NewRequest("POST", k.url+"/api/apps/web/builds", bytes.NewReader(src))
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&b)
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("starting a build with the deploy token: %d", resp.StatusCode)
	}
	logText, end := k.follow(b.ID, tok.Token)
	wantContains(t, logText, "===> DETECTING", "app: RUNTIME_AT_BUILD", "runtime: cache empty", "build succeeded: "+prefix+"/web:latest@sha256:")
	got := k.build(b.ID)
	if end.Status != service.StatusSucceeded || got.Status != service.StatusSucceeded || got.Image != prefix+"/web:latest" || !strings.HasPrefix(got.Digest, "sha256:") {
		t.Fatalf("build: %+v (end event %+v)", got, end)
	}
	phases := map[string]bool{}
	for _, p := range got.Phases {
		phases[p.Name] = p.Duration > 0
	}
	for _, p := range []string{"analyze", "detect", "build", "export"} {
		if !phases[p] {
			t.Errorf("phase %s missing or untimed: %+v", p, got.Phases)
		}
	}
	ref := got.Image + "@" + got.Digest
	if d, _ := pull(t, ref).Digest(); d.String() != got.Digest {
		t.Errorf("registry has %s", d)
	}
	wantContains(t, podmanRun(t, "--tls-verify=false", "--network", "host", ref), "app says: web | RUNTIME_VERSION=1.2.3")

	// A failing app.
	k.mustCall("POST", "/api/apps", map[string]any{"name": "bad", "builder": env.builder, "env": map[string]string{"FAIL_BUILD": "on purpose"}}, nil)
	bad := k.waitFinal(k.start("bad", src).ID)
	if bad.Status != service.StatusFailed || bad.Phase != "build" || bad.ExitCode != 51 || bad.Reason == "" || bad.Digest != "" {
		t.Errorf("failing build: %+v", bad)
	}
	wantContains(t, k.log(bad.ID), "app: failing on purpose", "build failed in phase build (exit code 51)")

	// Cancel a running build: the sandbox goes, the cache stays good.
	k.mustCall("PATCH", "/api/apps/web", map[string]any{"env": map[string]string{"SLEEP_BUILD": "600"}}, nil)
	slow := k.start("web", src)
	k.waitBuild(slow.ID, 3*time.Minute, "sleeping", func(service.Build) bool { return strings.Contains(k.log(slow.ID), "app: sleeping") })
	if len(containersUnder(t, cacheDir)) == 0 {
		t.Error("no build container runs during the build phase")
	}
	start := time.Now()
	k.mustCall("POST", fmt.Sprintf("/api/builds/%d/cancel", slow.ID), nil, nil)
	canceled := k.waitBuild(slow.ID, 30*time.Second, "canceled", func(b service.Build) bool { return b.Status.Final() })
	t.Logf("cancel took %s", time.Since(start))
	if canceled.Status != service.StatusCanceled || canceled.ExitCode != 130 {
		t.Errorf("canceled build: %+v", canceled)
	}
	if left := containersUnder(t, cacheDir); len(left) > 0 {
		t.Errorf("containers left after cancel: %v", left)
	}
	k.mustCall("PATCH", "/api/apps/web", map[string]any{"env": map[string]string{}}, nil)
	again := k.waitFinal(k.start("web", src).ID)
	if again.Status != service.StatusSucceeded {
		t.Fatalf("rebuild after cancel: %+v", again)
	}
	wantContains(t, k.log(again.ID), "runtime: cache restored, count=1")

	// Restart: every build and log is still there.
	before := map[int64]string{}
	var list []service.Build
	k.mustCall("GET", "/api/apps/web/builds", nil, &list)
	for _, b := range append(list, bad) {
		before[b.ID] = string(b.Status) + "\n" + k.log(b.ID)
	}
	k.stop()
	k = startServe(t, tokenFile, srvEnv, args...)
	if strings.Contains(k.output(), k.token) {
		t.Error("the admin token was printed again at restart")
	}
	for id, want := range before {
		b := k.build(id)
		if got := string(b.Status) + "\n" + k.log(id); got != want {
			t.Errorf("build %d after restart:\n%s\nwant:\n%s", id, got, want)
		}
	}

	// kill -9 mid-build: after a restart the build is re-run as its
	// next attempt within the bounded time (--stale-after 5s), and the
	// killed service's build container does not linger.
	k.mustCall("PATCH", "/api/apps/web", map[string]any{"env": map[string]string{"SLEEP_BUILD": "20"}}, nil)
	killed := k.start("web", src)
	k.waitBuild(killed.ID, 3*time.Minute, "sleeping", func(service.Build) bool { return strings.Contains(k.log(killed.ID), "app: sleeping") })
	k.kill9()
	deadline := time.Now().Add(30 * time.Second)
	for len(containersUnder(t, cacheDir)) > 0 && time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
	}
	if left := containersUnder(t, cacheDir); len(left) > 0 {
		t.Errorf("the killed service's build container lingers: %v", left)
	}
	k = startServe(t, tokenFile, srvEnv, args...)
	requeued := k.waitBuild(killed.ID, 60*time.Second, "re-queued", func(b service.Build) bool { return b.Attempt == 2 || b.Status.Final() })
	t.Logf("after the restart: %+v", requeued)
	final := k.waitFinal(killed.ID)
	if final.Status != service.StatusSucceeded || final.Attempt != 2 {
		t.Errorf("the killed build ended %+v", final)
	}
	wantContains(t, k.log(killed.ID), "attempt 1", "was lost: no heartbeat for 5s; re-queued as attempt 2 of 2", "attempt 2, on")
}
