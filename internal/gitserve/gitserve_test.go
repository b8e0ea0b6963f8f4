package gitserve

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/internal/service"
)

// TestPushBuilds: a push to main builds the pushed commit's tree; the
// build's log reaches the pusher live as remote: lines, then the image.
func TestPushBuilds(t *testing.T) {
	fake := newFake()
	seen := make(chan struct{})
	fake.follow = func(ctx context.Context, b service.Build, w io.Writer) service.Build {
		fmt.Fprintln(w, "first log line")
		select { // the second line comes only once the pusher saw the first
		case <-seen:
		case <-time.After(30 * time.Second):
			fmt.Fprintln(w, "the first line did not reach the pusher while the build ran")
			b.Status, b.Reason = service.StatusFailed, "not live"
			return b
		}
		fmt.Fprintln(w, "second log line")
		b.Status, b.Image, b.Digest = service.StatusSucceeded, "reg.example/test/x:latest", "sha256:"+strings.Repeat("1f", 32)
		return b
	}
	s := newServer(t, fake, Options{})
	work := workRepo(t, map[string]string{"index.html": "hello\n", "sub/a.txt": "a\n"})
	commit := mustGit(t, work, "rev-parse", "HEAD")

	first := false
	out, err := gitLines(t, work, func(l string) {
		if !first && strings.Contains(l, "remote: first log line") {
			first = true
			close(seen)
		}
	}, "push", s.url("x-token", "x"), "main")
	if err != nil {
		t.Fatalf("push failed: %v", err)
	}
	wantContains(t, out,
		"remote: kiln: building x from refs/heads/main at "+commit[:12],
		"remote: first log line", "remote: second log line",
		"remote: image reg.example/test/x:latest@sha256:"+strings.Repeat("1f", 32))
	if strings.Contains(out, "leaked") {
		t.Error("a token reached the hook")
	}
	calls := fake.calls()
	if len(calls) != 1 {
		t.Fatalf("%d builds started, want 1", len(calls))
	}
	want := startCall{app: "x", src: service.Source{Ref: "refs/heads/main", Commit: commit, Trigger: service.TriggerPush},
		files: map[string]string{"index.html": "hello\n", "sub/a.txt": "a\n"}}
	if d := cmp.Diff(want, calls[0], cmp.AllowUnexported(startCall{})); d != "" {
		t.Errorf("Start (-want +got):\n%s", d)
	}
	if got := s.serverRef(t, "x", "refs/heads/main"); got != commit {
		t.Errorf("server's main = %q, want %s", got, commit)
	}
	// Fetching and cloning take the same tokens.
	if _, err := git(t, t.TempDir(), "clone", "-q", s.url("x-token", "x"), "clone"); err != nil {
		t.Errorf("clone with the deploy token failed: %v", err)
	}
	if _, err := git(t, t.TempDir(), "clone", "-q", s.url("", "x"), "clone"); err == nil {
		t.Error("clone without a token worked")
	}
}

// TestFailedBuildRejectsPush: the phase, exit code and reason reach the
// pusher, git fails, and the server's branch stays where it was.
func TestFailedBuildRejectsPush(t *testing.T) {
	fake := newFake()
	fake.follow = func(ctx context.Context, b service.Build, w io.Writer) service.Build {
		fmt.Fprintln(w, "===> DETECT")
		b.Status, b.Phase, b.ExitCode, b.Reason = service.StatusFailed, "detect", 20, "no buildpack group passed detection"
		return b
	}
	s := newServer(t, fake, Options{})
	work := workRepo(t, map[string]string{"README": "nothing to detect\n"})
	out, err := git(t, work, "push", s.url("x-token", "x"), "main")
	if err == nil {
		t.Fatal("push of a failing build succeeded")
	}
	wantContains(t, out, "remote: ===> DETECT",
		"remote: ! build 1 failed: phase detect, exit code 20: no buildpack group passed detection",
		"pre-receive hook declined")
	if got := s.serverRef(t, "x", "refs/heads/main"); got != "" {
		t.Errorf("server's main = %s after a rejected push", got)
	}
	wantNoObjects(t, filepath.Join(s.repos, "x.git"))
}

// wantNoObjects fails unless repo holds no object at all (nothing left
// of a refused push, git's quarantine included).
func wantNoObjects(t *testing.T, repo string) {
	t.Helper()
	filepath.WalkDir(filepath.Join(repo, "objects"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("left in the repository: %s", p)
		}
		if err == nil && d.IsDir() && strings.Contains(d.Name(), "incoming") {
			t.Errorf("quarantine left: %s", p)
		}
		return nil
	})
}

// TestAuth: what each token reaches, checked on the HTTP requests git
// makes; nothing of it builds.
func TestAuth(t *testing.T) {
	fake := newFake()
	s := newServer(t, fake, Options{})
	for _, tc := range []struct {
		name, method, path, token string
		want                      int
	}{
		{"no token", "GET", "/git/x.git/info/refs?service=git-receive-pack", "", 401},
		{"no token, fetch", "GET", "/git/x.git/info/refs?service=git-upload-pack", "", 401},
		{"bad token", "GET", "/git/x.git/info/refs?service=git-receive-pack", "wrong", 401},
		{"bad token, post", "POST", "/git/x.git/git-receive-pack", "wrong", 401},
		{"other app's token", "GET", "/git/y.git/info/refs?service=git-receive-pack", "x-token", 401},
		{"other app's token, post", "POST", "/git/y.git/git-receive-pack", "x-token", 401},
		{"unknown app", "GET", "/git/nope.git/info/refs?service=git-receive-pack", "x-token", 404},
		{"invalid app name", "GET", "/git/No_pe.git/info/refs?service=git-receive-pack", "admin-token", 404},
		{"dumb http", "GET", "/git/x.git/info/refs", "x-token", 404},
		{"dumb http object", "GET", "/git/x.git/objects/info/packs", "x-token", 404},
		{"path escape", "GET", "/git/../x.git/info/refs?service=git-upload-pack", "x-token", 404},
		{"own token", "GET", "/git/x.git/info/refs?service=git-receive-pack", "x-token", 200},
		{"admin token", "GET", "/git/y.git/info/refs?service=git-receive-pack", "admin-token", 200},
		{"hook without ticket, with a token", "POST", "/git/_hook?ref=refs/heads/main&commit=" + strings.Repeat("a", 40), "x-token", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, s.URL+tc.path, strings.NewReader("0000"))
			if tc.token != "" {
				req.SetBasicAuth("kiln", tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == 401 && resp.Header.Get("WWW-Authenticate") != `Basic realm="kiln"` {
				t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	// And as git sees it.
	work := workRepo(t, map[string]string{"a": "a"})
	for _, tc := range []struct{ token, app, want string }{
		{"", "x", "could not read Username"},
		{"wrong", "x", "Authentication failed"},
		{"x-token", "y", "Authentication failed"},
		{"x-token", "nope", "not found"},
	} {
		out, err := git(t, work, "push", s.url(tc.token, tc.app), "main")
		if err == nil {
			t.Errorf("push to %s with %q worked", tc.app, tc.token)
		}
		wantContains(t, out, tc.want)
	}
	if n := len(fake.calls()); n != 0 {
		t.Errorf("%d builds started", n)
	}
	if _, err := os.Stat(filepath.Join(s.repos, "nope.git")); err == nil {
		t.Error("a repository was made for an unknown app")
	}
}

// TestAdminCreatesApp: the admin token's push to an app that does not
// exist makes the app and its repository, and builds.
func TestAdminCreatesApp(t *testing.T) {
	fake := newFake()
	s := newServer(t, fake, Options{})
	work := workRepo(t, map[string]string{"a": "a"})
	out, err := git(t, work, "push", s.url("admin-token", "fresh"), "main")
	if err != nil {
		t.Fatalf("push failed: %v", err)
	}
	wantContains(t, out, "remote: image reg.example/test/fresh:latest@sha256:")
	if !fake.apps["fresh"] || len(fake.ensured) == 0 || fake.ensured[0] != "fresh" {
		t.Errorf("EnsureApp calls %v", fake.ensured)
	}
	if calls := fake.calls(); len(calls) != 1 || calls[0].app != "fresh" {
		t.Errorf("builds %+v", calls)
	}
	hook, err := os.ReadFile(filepath.Join(s.repos, "fresh.git", "hooks", "pre-receive"))
	if err != nil || !strings.Contains(string(hook), "'serve-hook'") {
		t.Errorf("hook %q, %v", hook, err)
	}
}

// TestPushTooLarge: pushes above MaxPushSize — sent with a length or
// chunked — are refused with git's message, build nothing and leave no
// object behind.
func TestPushTooLarge(t *testing.T) {
	for _, size := range []int{200 << 10, 3 << 20} { // git sends above 1 MiB chunked
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			fake := newFake()
			s := newServer(t, fake, Options{MaxPushSize: 64 << 10})
			big := make([]byte, size)
			rand.Read(big)
			work := workRepo(t, map[string]string{"big.bin": string(big)})
			out, err := git(t, work, "push", s.url("x-token", "x"), "main")
			if err == nil {
				t.Fatal("push above the limit worked")
			}
			wantContains(t, out, "pack exceeds maximum allowed size")
			if n := len(fake.calls()); n != 0 {
				t.Errorf("%d builds started", n)
			}
			if got := s.serverRef(t, "x", "refs/heads/main"); got != "" {
				t.Errorf("main = %s", got)
			}
			wantNoObjects(t, filepath.Join(s.repos, "x.git"))
		})
	}
}

// TestRequestCap: a push whose declared length is above the cap is
// refused before git reads it (TestPushBodyCounted covers bodies without
// a length).
func TestRequestCap(t *testing.T) {
	fake := newFake()
	s := newServer(t, fake, Options{MaxPushSize: 1 << 10})
	req, _ := http.NewRequest("POST", s.URL+"/git/x.git/git-receive-pack", strings.NewReader(strings.Repeat("0000", (2<<20)/4)))
	req.Header.Set("Content-Type", "application/x-git-receive-pack-request")
	req.SetBasicAuth("kiln", "x-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(msg), "above the limit of 1024 bytes") {
		t.Errorf("status %d: %q", resp.StatusCode, msg)
	}
}

// TestSourceTooLarge: a small pack whose tree is large (a "git bomb")
// is refused by the hook's cap on the tar.
func TestSourceTooLarge(t *testing.T) {
	fake := newFake()
	s := newServer(t, fake, Options{MaxSourceSize: 64 << 10})
	work := workRepo(t, map[string]string{"zeros": strings.Repeat("0", 1<<20)})
	out, err := git(t, work, "push", s.url("x-token", "x"), "main")
	if err == nil {
		t.Fatal("push worked")
	}
	wantContains(t, out, "is above the limit of 65536 bytes")
	if n := len(fake.calls()); n != 0 {
		t.Errorf("%d builds started", n)
	}
}

// TestWhatBuilds: only main (or master) builds; other branches and tags
// are stored; deleting a ref is refused.
func TestWhatBuilds(t *testing.T) {
	fake := newFake()
	s := newServer(t, fake, Options{})
	work := workRepo(t, map[string]string{"a": "1"})
	url := s.url("x-token", "x")
	mustGit(t, work, "push", url, "main")
	main := mustGit(t, work, "rev-parse", "HEAD")

	mustGit(t, work, "checkout", "-q", "-b", "feature")
	commitFiles(t, work, map[string]string{"a": "2"})
	mustGit(t, work, "tag", "v1")
	out := mustGit(t, work, "push", url, "feature", "v1")
	wantContains(t, out, "refs/heads/feature stored, not built", "refs/tags/v1 stored, not built", "nothing to build")

	out, err := git(t, work, "push", url, ":main")
	if err == nil {
		t.Error("deleting main worked")
	}
	wantContains(t, out, "deleting refs/heads/main is not allowed")
	if got := s.serverRef(t, "x", "refs/heads/main"); got != main {
		t.Errorf("main = %q, want %s", got, main)
	}

	// Several branches: main builds, the other is stored.
	mustGit(t, work, "checkout", "-q", "main")
	next := commitFiles(t, work, map[string]string{"a": "3"})
	mustGit(t, work, "branch", "-f", "master", "feature")
	out = mustGit(t, work, "push", url, "main", "master")
	wantContains(t, out, "building x from refs/heads/main", "refs/heads/master stored, not built")

	calls := fake.calls()
	var got []string
	for _, c := range calls {
		got = append(got, c.src.Ref+"@"+c.src.Commit)
	}
	if d := cmp.Diff([]string{"refs/heads/main@" + main, "refs/heads/main@" + next}, got); d != "" {
		t.Errorf("builds (-want +got):\n%s", d)
	}
}

// TestHookEndpoint: the internal endpoint takes a push's ticket only,
// once, and builds the ticket's app whatever the request says.
func TestHookEndpoint(t *testing.T) {
	fake := newFake()
	s := newServer(t, fake, Options{})
	h := s.h
	ticket := h.tickets.issue("x")
	post := func(ticket, app string) int {
		body, _ := tarGz(map[string]string{"f": "x"})
		req, _ := http.NewRequest("POST", s.URL+"/git/_hook?app="+app+"&ref=refs/heads/main&commit="+strings.Repeat("c", 40), body)
		req.Header.Set(hdrTicket, ticket)
		req.SetBasicAuth("kiln", "y-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("", "y"); code != 403 {
		t.Errorf("no ticket: %d", code)
	}
	if code := post(strings.Repeat("0", 64), "y"); code != 403 {
		t.Errorf("made-up ticket: %d", code)
	}
	if code := post(ticket, "y"); code != 200 {
		t.Errorf("ticket: %d", code)
	}
	if code := post(ticket, "y"); code != 403 {
		t.Errorf("ticket used twice: %d", code)
	}
	calls := fake.calls()
	if len(calls) != 1 || calls[0].app != "x" {
		t.Errorf("builds %+v, want one of x", calls)
	}
	h.tickets.revoke(ticket)
}

func wantContains(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}
