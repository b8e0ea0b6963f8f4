//go:build acceptance

package acceptance

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/service"
)

// gitServe is a `kiln serve` process for the git push and webhook tests.
type gitServe struct {
	url    string // http://127.0.0.1:PORT
	host   string // 127.0.0.1:PORT
	token  string // the admin token
	prefix string // --registry-prefix
	cmd    *exec.Cmd
	mu     sync.Mutex
	log    bytes.Buffer
}

// startGitServe starts kiln serve on a free port with a fresh data dir,
// images published under prefix, and extraEnv added to its environment
// (and so to its builds'), and waits until it answers.
func startGitServe(t testing.TB, prefix string, extraEnv ...string) *gitServe {
	t.Helper()
	return startGitServeArgs(t, prefix, nil, extraEnv...)
}

// startGitServeArgs is startGitServe with more kiln serve flags.
func startGitServeArgs(t testing.TB, prefix string, args []string, extraEnv ...string) *gitServe {
	t.Helper()
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	s := &gitServe{url: "http://" + host, host: host, prefix: prefix}
	tokenFile := filepath.Join(dir, "admin-token")
	s.cmd = exec.Command(env.kiln, append([]string{"serve", "--listen", host, "--data", filepath.Join(dir, "data"),
		"--registry-prefix", prefix, "--admin-token-file", tokenFile}, args...)...)
	s.cmd.Env = append(os.Environ(), extraEnv...)
	s.cmd.Stdout, s.cmd.Stderr = s, s
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(time.Minute):
			s.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("kiln serve's output:\n%s", s.output())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(tokenFile); err == nil && len(bytes.TrimSpace(b)) > 0 {
			s.token = string(bytes.TrimSpace(b))
			if resp, err := http.Get(s.url + "/api/apps"); err == nil {
				resp.Body.Close()
				return s
			}
		}
		select {
		case <-done:
			t.Fatalf("kiln serve exited:\n%s", s.output())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("kiln serve did not answer on %s:\n%s", host, s.output())
		}
	}
}

func (s *gitServe) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.Write(p)
}

func (s *gitServe) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// gitURL is app's push URL with token.
func (s *gitServe) gitURL(token, app string) string {
	return "http://kiln:" + token + "@" + s.host + "/git/" + app + ".git"
}

// api calls kiln serve's API with the admin token and decodes the JSON
// answer into out (when not nil); it returns the status.
func (s *gitServe) api(t testing.TB, method, path string, body any, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.url+path, r)
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

// waitBuild polls a build until it ends.
func (s *gitServe) waitBuild(t testing.TB, id int64) service.Build {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var b service.Build
		if code := s.api(t, "GET", fmt.Sprintf("/api/builds/%d", id), nil, &b); code != 200 {
			t.Fatalf("GET build %d: %d", id, code)
		}
		if b.Status.Final() {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("build %d still %s", id, b.Status)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// gitClientEnv is a git client's environment: no user or system config,
// no prompts.
func gitClientEnv() []string {
	return append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=kiln test", "GIT_AUTHOR_EMAIL=test@kiln.invalid",
		"GIT_COMMITTER_NAME=kiln test", "GIT_COMMITTER_EMAIL=test@kiln.invalid")
}

// gitRun runs git in dir. Each line of output goes to line (when not nil)
// with the time since the start as it arrives.
func gitRun(t testing.TB, dir string, line func(string, time.Duration), args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir, cmd.Env = dir, gitClientEnv()
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var out, stamped strings.Builder
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			at := time.Since(start)
			out.WriteString(sc.Text() + "\n")
			fmt.Fprintf(&stamped, "[%5.2fs] %s\n", at.Seconds(), sc.Text())
			if line != nil {
				line(sc.Text(), at)
			}
		}
	}()
	err := cmd.Run()
	pw.Close()
	<-done
	t.Logf("$ git %s (%v)\n%s", strings.Join(args, " "), err, stamped.String())
	return out.String(), err
}

func mustGitRun(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := gitRun(t, dir, nil, args...)
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(out)
}

// gitCommitAll makes dir a git repository (when it is not one) and
// commits all of it on main; it returns the commit.
func gitCommitAll(t testing.TB, dir, msg string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, ".git")); err != nil {
		mustGitRun(t, dir, "init", "-q", "-b", "main")
	}
	mustGitRun(t, dir, "add", "-A")
	mustGitRun(t, dir, "commit", "-q", "--allow-empty", "-m", msg)
	return mustGitRun(t, dir, "rev-parse", "HEAD")
}

var pushedImage = regexp.MustCompile(`remote: image (\S+)@(sha256:[0-9a-f]{64})`)

// TestServeGit: `git push` of an app to kiln serve builds and publishes
// it: the push shows the build's log as it runs and ends with the image,
// which is in the registry and runs in podman. A push nothing detects is
// rejected with detect's reason and leaves the branch unset.
func TestServeGit(t *testing.T) {
	prefix := env.reg.Host + "/serve-git"
	s := startGitServe(t, prefix, "KILN_BUILDER="+env.builder)

	// The app's build sleeps 2 s after a line (the test buildpack's
	// SLEEP_BUILD), so a live log shows that line 2 s before the end.
	if code := s.api(t, "POST", "/api/apps", map[string]any{"name": "gitapp", "env": map[string]string{"SLEEP_BUILD": "2"}}, nil); code != 201 {
		t.Fatalf("creating the app: %d", code)
	}
	src := appSource(t)
	commit := gitCommitAll(t, src, "first")
	var buildLine, imageLine time.Duration
	out, err := gitRun(t, src, func(l string, at time.Duration) {
		switch {
		case buildLine == 0 && strings.Contains(l, "app: sleeping 2s"):
			buildLine = at
		case strings.Contains(l, "remote: image "):
			imageLine = at
		}
	}, "push", s.gitURL(s.token, "gitapp"), "main")
	if err != nil {
		t.Fatalf("git push: %v", err)
	}
	m := pushedImage.FindStringSubmatch(out)
	if m == nil || m[1] != prefix+"/gitapp:latest" {
		t.Fatalf("the push did not end with the image %s/gitapp:latest@sha256:...", prefix)
	}
	// Live: the buildpack's line came while the build still ran, not all
	// at once at the end.
	if buildLine == 0 || imageLine-buildLine < 1500*time.Millisecond {
		t.Errorf("the build's log line came at %v and the image at %v: not streamed live", buildLine, imageLine)
	}
	if got := mustGitRun(t, src, "ls-remote", s.gitURL(s.token, "gitapp"), "refs/heads/main"); !strings.HasPrefix(got, commit) {
		t.Errorf("the server's main: %q, want %s", got, commit)
	}
	ref := m[1] + "@" + m[2]
	img := pull(t, ref)
	if d, _ := img.Digest(); d.String() != m[2] {
		t.Errorf("registry has %s, push said %s", d, m[2])
	}
	podmanOut := podmanRun(t, "--tls-verify=false", "--network", "host", ref)
	wantContains(t, podmanOut, "app says: web | RUNTIME_VERSION=1.2.3")

	// Nothing detects: the push is rejected with the reason.
	bad := appSource(t)
	os.Remove(filepath.Join(bad, "app.sh"))
	gitCommitAll(t, bad, "no app.sh")
	out, err = gitRun(t, bad, nil, "push", s.gitURL(s.token, "gitfail"), "main")
	if err == nil {
		t.Fatal("the push of an app nothing detects succeeded")
	}
	wantContains(t, out, "remote: ! build", "failed: phase detect", "pre-receive hook declined")
	if got := mustGitRun(t, bad, "ls-remote", s.gitURL(s.token, "gitfail")); strings.Contains(got, "refs/heads/main") {
		t.Errorf("the rejected push set main: %s", got)
	}
	// A bad token is refused before anything is received.
	out, err = gitRun(t, src, nil, "push", s.gitURL("wrong", "gitapp"), "main")
	if err == nil {
		t.Error("a push with a bad token worked")
	}
	wantContains(t, out, "Authentication failed")
}

// podmanRun runs podman run --rm with args (newPodman's setup for these
// machines) and returns its output.
func podmanRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := newPodman(t)(append([]string{"run", "--rm"}, args...)...)
	if err != nil {
		t.Fatalf("podman run: %v", err)
	}
	return out
}

// TestServeWebhook: a GitHub push event signed with the app's secret
// queues a build of the named commit, cloned from the URL the event
// gives (here kiln serve's own git endpoint on 127.0.0.1, which
// --allow-private-git allows, with the admin token in it), which
// succeeds; the token is in neither the build's record nor its log nor
// kiln serve's output. A wrongly signed event is 401 and queues nothing,
// and without --allow-private-git the same event is refused (400).
func TestServeWebhook(t *testing.T) {
	prefix := env.reg.Host + "/serve-hook"
	s := startGitServeArgs(t, prefix, []string{"--allow-private-git"}, "KILN_BUILDER="+env.builder)
	const secret = "webhook s3cret"

	// The repository: a branch that a push stores without building.
	src := appSource(t)
	commit := gitCommitAll(t, src, "for the webhook")
	mustGitRun(t, src, "push", s.gitURL(s.token, "hookapp"), "main:next")
	if code := s.api(t, "PATCH", "/api/apps/hookapp", map[string]string{"webhook_secret": secret}, nil); code != 200 {
		t.Fatalf("setting the webhook secret: %d", code)
	}
	payload, _ := json.Marshal(map[string]any{
		"ref": "refs/heads/next", "before": strings.Repeat("0", 40), "after": commit,
		"repository": map[string]string{"clone_url": s.gitURL(s.token, "hookapp")},
	})
	send := func(key, event string) (int, []byte) {
		mac := hmac.New(sha256.New, []byte(key))
		mac.Write(payload)
		req, _ := http.NewRequest("POST", s.url+"/hooks/github/hookapp", bytes.NewReader(payload))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", event)
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	builds := func() int {
		var bs []service.Build
		s.api(t, "GET", "/api/apps/hookapp/builds", nil, &bs)
		return len(bs)
	}

	if code, body := send("not the secret", "push"); code != http.StatusUnauthorized {
		t.Errorf("wrongly signed event: %d %s", code, body)
	}
	if code, _ := send(secret, "ping"); code != http.StatusOK {
		t.Errorf("ping: %d", code)
	}
	if n := builds(); n != 0 {
		t.Fatalf("%d builds queued by a wrongly signed event and a ping", n)
	}
	code, body := send(secret, "push")
	if code != http.StatusAccepted {
		t.Fatalf("signed push event: %d %s", code, body)
	}
	var queued service.Build
	if err := json.Unmarshal(body, &queued); err != nil || queued.ID == 0 {
		t.Fatalf("answer %s: %v", body, err)
	}
	b := s.waitBuild(t, queued.ID)
	if b.Status != service.StatusSucceeded || b.Trigger != service.TriggerWebhook || b.Commit != commit || b.Digest == "" {
		t.Fatalf("webhook build ended %+v", b)
	}
	if d, _ := pull(t, prefix+"/hookapp@"+b.Digest).Digest(); d.String() != b.Digest {
		t.Errorf("registry has %s, build says %s", d, b.Digest)
	}
	// The admin token was in the clone URL: it is nowhere to be seen.
	rec, _ := json.Marshal(b)
	var logText string
	func() {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/builds/%d/log", s.url, b.ID), nil)
		req.Header.Set("Authorization", "Bearer "+s.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		logText = string(data)
	}()
	wantContains(t, logText, "kiln serve: fetching http://"+s.host+"/git/hookapp.git")
	for what, text := range map[string]string{"webhook answer": string(body), "build record": string(rec), "build log": logText} {
		if strings.Contains(text, s.token) {
			t.Errorf("the %s holds the admin token from the clone URL", what)
		}
	}
	// kiln serve prints the token once, at first start; never again.
	if n := strings.Count(s.output(), s.token); n != 1 {
		t.Errorf("kiln serve's output holds the admin token %d times, want 1 (the first start's)", n)
	}

	// Without --allow-private-git, a clone URL on 127.0.0.1 is refused.
	strict := startGitServe(t, prefix, "KILN_BUILDER="+env.builder)
	strict.api(t, "POST", "/api/apps", map[string]any{"name": "hookapp", "webhook_secret": secret}, nil)
	req, _ := http.NewRequest("POST", strict.url+"/hooks/github/hookapp", bytes.NewReader(payload))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(payload)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	refusal, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(refusal), "private address") || strings.Contains(string(refusal), s.token) {
		t.Errorf("a clone URL on 127.0.0.1 without --allow-private-git: %d %s", resp.StatusCode, refusal)
	}
}
