package gitserve

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/service"
)

// TestMain lets the test binary be the pre-receive hook: the repositories
// New makes exec os.Executable() with "serve-hook", which is this binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "serve-hook" {
		for _, e := range os.Environ() {
			if strings.Contains(e, "-token") || strings.HasPrefix(e, "HTTP_AUTHORIZATION=") { // the fake's tokens
				fmt.Printf("a token leaked into the hook's environment: %s\n", e)
			}
		}
		os.Exit(RunHook(context.Background(), os.Stdin, os.Stdout, os.Getenv))
	}
	os.Exit(m.Run())
}

// fakeBuilds is service.Builds with apps, tokens and scripted builds.
type fakeBuilds struct {
	mu      sync.Mutex
	admin   string
	tokens  map[string]string // deploy token -> app
	apps    map[string]bool
	secrets map[string]string
	starts  []startCall
	ensured []string
	// follow scripts a build: it writes the log and returns the build as
	// it ended. Default: one log line and success.
	follow func(ctx context.Context, b service.Build, w io.Writer) service.Build
}

type startCall struct {
	app   string
	src   service.Source // Tarball nil
	files map[string]string
}

var _ service.Builds = (*fakeBuilds)(nil)

func newFake() *fakeBuilds {
	return &fakeBuilds{
		admin:   "admin-token",
		tokens:  map[string]string{"x-token": "x", "y-token": "y"},
		apps:    map[string]bool{"x": true, "y": true},
		secrets: map[string]string{"x": "x-secret"},
	}
}

func (f *fakeBuilds) Authorize(ctx context.Context, app, token string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if token == f.admin {
		return true, nil
	}
	if !f.apps[app] {
		return false, fmt.Errorf("app %s: %w", app, service.ErrNotFound)
	}
	if f.tokens[token] != app {
		return false, service.ErrUnauthorized
	}
	return false, nil
}

func (f *fakeBuilds) EnsureApp(ctx context.Context, app string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ensured = append(f.ensured, app)
	f.apps[app] = true
	return nil
}

func (f *fakeBuilds) Start(ctx context.Context, app string, src service.Source) (service.Build, error) {
	var files map[string]string
	if src.Tarball != nil {
		var err error
		if files, err = readTarGz(src.Tarball); err != nil {
			return service.Build{}, fmt.Errorf("%w: %v", service.ErrInvalid, err)
		}
		src.Tarball = nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.apps[app] {
		return service.Build{}, service.ErrNotFound
	}
	f.starts = append(f.starts, startCall{app, src, files})
	return service.Build{ID: int64(len(f.starts)), App: app, Status: service.StatusQueued, Trigger: src.Trigger, Ref: src.Ref, Commit: src.Commit}, nil
}

func (f *fakeBuilds) WebhookSecret(ctx context.Context, app string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.secrets[app]
	if !ok {
		return "", service.ErrNotFound
	}
	return s, nil
}

func (f *fakeBuilds) Follow(ctx context.Context, id, offset int64, w io.Writer) (service.Build, error) {
	f.mu.Lock()
	call := f.starts[id-1]
	follow := f.follow
	f.mu.Unlock()
	b := service.Build{ID: id, App: call.app, Ref: call.src.Ref, Commit: call.src.Commit, Trigger: call.src.Trigger}
	if follow == nil {
		fmt.Fprintln(w, "building...")
		b.Status, b.Image, b.Digest = service.StatusSucceeded, "reg.example/test/"+call.app+":latest", "sha256:"+strings.Repeat("ab", 32)
		return b, nil
	}
	return follow(ctx, b, w), nil
}

func (f *fakeBuilds) calls() []startCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]startCall(nil), f.starts...)
}

func readTarGz(r io.Reader) (map[string]string, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(zr)
	files := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			files[h.Name] = string(b)
		}
	}
}

// server is New behind an httptest server, mounted at /git/ as kiln
// serve mounts it.
type server struct {
	*httptest.Server
	repos string
	fake  *fakeBuilds
	h     *handler
}

func newServer(t *testing.T, fake *fakeBuilds, o Options) *server {
	t.Helper()
	o.Builds = fake
	if o.ReposDir == "" {
		o.ReposDir = filepath.Join(t.TempDir(), "repos")
	}
	o.Log = testLog{t}
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/git/", h)
	s := &server{Server: httptest.NewServer(mux), repos: o.ReposDir, fake: fake, h: h.(*handler)}
	t.Cleanup(s.Close)
	return s
}

// url is the push URL of app with token as the password.
func (s *server) url(token, app string) string {
	u := strings.Replace(s.URL, "http://", "http://kiln:"+token+"@", 1)
	if token == "" {
		u = s.URL
	}
	return u + "/git/" + app + ".git"
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Logf("server: %s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

// gitEnv is a git client's environment: no user config, no prompts.
func gitEnv(home string) []string {
	return append(os.Environ(),
		"HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=", "SSH_ASKPASS=",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com",
	)
}

// git runs git in dir and returns its combined output and error.
func git(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	return gitLines(t, dir, nil, args...)
}

// gitLines runs git in dir; each line of its output also goes to line
// as it comes.
func gitLines(t *testing.T, dir string, line func(string), args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = gitEnv(dir)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var out strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Split(scanLinesCR)
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if line != nil {
				line(sc.Text())
			}
		}
	}()
	err := cmd.Run()
	pw.Close()
	<-done
	t.Logf("$ git %s\n%s", strings.Join(args, " "), out.String())
	return out.String(), err
}

// scanLinesCR splits at \n and \r (git's progress lines end with \r).
func scanLinesCR(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

func mustGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := git(t, dir, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

// workRepo is a git repository with files committed on main.
func workRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "work")
	mustGit(t, t.TempDir(), "init", "-q", "-b", "main", dir)
	commitFiles(t, dir, files)
	return dir
}

// commitFiles writes files into dir and commits them; it returns the
// commit.
func commitFiles(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustGit(t, dir, "add", "-A")
	mustGit(t, dir, "commit", "-q", "-m", "change")
	return mustGit(t, dir, "rev-parse", "HEAD")
}

// serverRef is ref in app's repository on the server, "" when absent.
func (s *server) serverRef(t *testing.T, app, ref string) string {
	t.Helper()
	out, err := exec.Command("git", "--git-dir", filepath.Join(s.repos, app+".git"), "rev-parse", "--verify", "-q", ref).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func tarGz(files map[string]string) (io.Reader, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		tw.Write([]byte(content))
	}
	tw.Close()
	zw.Close()
	return &buf, nil
}
