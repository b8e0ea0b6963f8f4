package service

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestStartRecordsTarballRefCommit: a tarball build (a git push's) keeps
// the ref and commit it came from.
func TestStartRecordsTarballRefCommit(t *testing.T) {
	s := newTestService(t, 0, nil)
	mustApp(t, s, "web")
	commit := strings.Repeat("ab", 20)
	b, err := s.Start(context.Background(), "web", Source{Tarball: strings.NewReader(string(sourceTar(t))), Ref: "refs/heads/main", Commit: commit, Trigger: TriggerPush})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := s.GetBuild(context.Background(), b.ID)
	if b.Ref != "refs/heads/main" || b.Commit != commit || got.Ref != b.Ref || got.Commit != commit {
		t.Errorf("Start = %+v, recorded %+v", b, got)
	}
}

// TestDeleteAppRemovesRepo: deleting an app removes its git repository,
// so an app made again under the name has none of the old history.
func TestDeleteAppRemovesRepo(t *testing.T) {
	repos := t.TempDir()
	s := newTestServiceWith(t, 0, nil, func(o *Options) { o.ReposDir = repos })
	mustApp(t, s, "web")
	mustApp(t, s, "other")
	for _, app := range []string{"web", "other"} {
		os.MkdirAll(filepath.Join(repos, app+".git", "objects"), 0o700)
	}
	if err := s.DeleteApp(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(repos)
	if len(ents) != 1 || ents[0].Name() != "other.git" {
		t.Errorf("repositories left: %v", ents)
	}
	if err := s.DeleteApp(context.Background(), "web"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting it again: %v", err)
	}
}

// TestGitSourceRefusesPrivateHosts: a git URL whose host is or resolves
// to a loopback, link-local or private address is refused unless allowed,
// and nothing is recorded.
func TestGitSourceRefusesPrivateHosts(t *testing.T) {
	s := newTestService(t, 0, nil)
	mustApp(t, s, "web")
	for _, u := range []string{"http://127.0.0.1:8080/git/web.git", "http://localhost/x.git", "https://169.254.169.254/x", "http://10.0.0.1/x.git", "http://[::1]/x.git", "file:///etc", "ssh://git@github.com/acme/app.git"} {
		if _, err := s.Start(context.Background(), "web", Source{GitURL: u, Ref: "main"}); !errors.Is(err, ErrInvalid) {
			t.Errorf("Start(%s) = %v, want ErrInvalid", u, err)
		}
	}
	if bs, _ := s.ListBuilds(context.Background(), "web", 10); len(bs) != 0 {
		t.Errorf("refused builds were recorded: %+v", bs)
	}
}

// TestGitCredentialsNeverRecorded: a git URL with credentials (as a
// webhook test's, the admin token in it) builds with them, but neither
// the build's record nor its log ever holds them, and they are dropped
// when the build ends.
func TestGitCredentialsNeverRecorded(t *testing.T) {
	const secret = "ka_s3cret-token"
	url := gitHTTPServer(t, secret)
	fb := &fakeBuilder{}
	s := newTestServiceWith(t, 1, fb, func(o *Options) { o.AllowPrivateGit = true })
	mustApp(t, s, "web")
	withCreds := strings.Replace(url, "http://", "http://kiln:"+secret+"@", 1)
	b, err := s.Start(context.Background(), "web", Source{GitURL: withCreds, Ref: "main", Trigger: TriggerWebhook})
	if err != nil {
		t.Fatal(err)
	}
	row, _ := s.db.GetBuild(context.Background(), b.ID)
	if row.GitURL != url {
		t.Errorf("recorded git URL %q, want %q", row.GitURL, url)
	}
	end := waitFinal(t, s, b.ID)
	log := fullLog(t, s, b.ID)
	if end.Status != StatusSucceeded || len(end.Commit) != 40 {
		t.Fatalf("build ended %+v\n%s", end, log)
	}
	for what, text := range map[string]string{"log": log, "record": row.GitURL + row.Reason, "end": end.Reason} {
		if strings.Contains(text, secret) {
			t.Errorf("the %s holds the credentials: %s", what, text)
		}
	}
	if c, _ := s.db.GetCredentials(context.Background(), b.ID); c != "" {
		t.Errorf("the credentials were kept after the build: %q", c)
	}
}

// gitHTTPServer serves a repository with one commit on main over git's
// smart HTTP, wanting HTTP Basic with password; it returns its URL.
func gitHTTPServer(t *testing.T, password string) string {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("git is not installed (make deps installs it): %v", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	root, work := t.TempDir(), t.TempDir()
	run := func(dir string, args ...string) {
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@t"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	run(work, "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(work, "app.sh"), []byte("echo hi\n"), 0o644)
	run(work, "add", ".")
	run(work, "commit", "-q", "-m", "one")
	run(root, "clone", "-q", "--bare", work, "app.git")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, p, ok := r.BasicAuth(); !ok || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="t"`)
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		(&cgi.Handler{Path: backend, Dir: root, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/app.git"
}

// TestSourceRemovedUnprivileged: an uploaded source tree may hold
// directories without write or search permission; the worker removes it
// after the build all the same when kiln serve is not root (run as root,
// the test runs itself again as nobody: root removes anything).
func TestSourceRemovedUnprivileged(t *testing.T) {
	if os.Geteuid() == 0 {
		runAsNobody(t, "TestSourceRemovedUnprivileged")
		return
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []tar.Header{
		{Name: "Procfile", Mode: 0o644, Size: 3, Typeflag: tar.TypeReg},
		{Name: "ro/", Mode: 0o555, Typeflag: tar.TypeDir},
		{Name: "ro/f", Mode: 0o444, Size: 3, Typeflag: tar.TypeReg},
		{Name: "shut/", Mode: 0o000, Typeflag: tar.TypeDir},
		{Name: "shut/deep/", Mode: 0o000, Typeflag: tar.TypeDir},
		{Name: "shut/deep/f", Mode: 0o600, Size: 3, Typeflag: tar.TypeReg},
	} {
		tw.WriteHeader(&h)
		if h.Size > 0 {
			tw.Write([]byte("hi\n"))
		}
	}
	tw.Close()
	fb := &fakeBuilder{}
	s := newTestService(t, 1, fb)
	mustApp(t, s, "web")
	b, err := s.Start(context.Background(), "web", Source{Tarball: &buf})
	if err != nil {
		t.Fatal(err)
	}
	if got := waitFinal(t, s, b.ID); got.Status != StatusSucceeded {
		t.Fatalf("build: %+v", got)
	}
	src := filepath.Dir(fb.specs[0].Dir)
	if _, err := os.Lstat(src); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the build's source dir %s is left: %v", src, err)
	}
}

// runAsNobody runs test of this test binary again as the user nobody,
// with a temp dir of its own, and fails t when it fails.
func runAsNobody(t *testing.T, test string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "kiln-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin, tmp := filepath.Join(dir, "test"), filepath.Join(dir, "tmp")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	os.Mkdir(tmp, 0o700)
	if err := os.Chown(tmp, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run", "^"+test+"$", "-test.count", "1", "-test.v")
	cmd.Dir, cmd.Env = tmp, append(os.Environ(), "TMPDIR="+tmp, "HOME="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+test)) {
		t.Errorf("%s as nobody: %v\n%s", test, err, out)
	}
}
