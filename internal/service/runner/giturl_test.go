package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSplitGitURL(t *testing.T) {
	for _, c := range []struct {
		in, url, user, pass string
		bad                 bool
	}{
		{in: "https://git.test/a.git", url: "https://git.test/a.git"},
		{in: "https://kiln:s3cret@git.test:8443/a.git", url: "https://git.test:8443/a.git", user: "kiln", pass: "s3cret"},
		{in: "http://tok%40en@git.test/a", url: "http://git.test/a", user: "tok@en"},
		{in: "ssh://git@git.test/a.git", url: "ssh://git.test/a.git", user: "git"},
		{in: "file:///etc", bad: true},
		{in: "/srv/repo", bad: true},
		{in: "https:///nohost", bad: true},
		{in: "ext::sh -c evil", bad: true},
	} {
		u, cr, err := SplitGitURL(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("SplitGitURL(%q) = %q, want an error", c.in, u)
			}
			continue
		}
		if err != nil || u != c.url || cr.Username != c.user || cr.Password != c.pass {
			t.Errorf("SplitGitURL(%q) = %q %+v %v", c.in, u, cr, err)
		}
	}
	if _, _, err := SplitGitURL("ftp://u:s3cret@h/x"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("the error shows the password: %v", err)
	}
	if got := Redact("https://u:s3cret@h/x@y"); got != "https://***@h/x@y" {
		t.Errorf("Redact = %q", got)
	}
}

type fakeResolver map[string][]string

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, a := range f[host] {
		out = append(out, netip.MustParseAddr(a))
	}
	if out == nil {
		return nil, errors.New("no such host")
	}
	return out, nil
}

func TestCheckGitHost(t *testing.T) {
	r := fakeResolver{
		"public.test": {"93.184.216.34", "2606:2800:220:1::1"},
		"mixed.test":  {"93.184.216.34", "10.1.2.3"},
		"local.test":  {"127.0.0.1"},
		"meta.test":   {"169.254.169.254"},
		"ula.test":    {"fd00::1"},
		"mapped.test": {"::ffff:192.168.1.1"},
	}
	for _, c := range []struct {
		url string
		ok  bool
	}{
		{"https://public.test/a.git", true},
		{"https://93.184.216.34/a.git", true},
		{"https://mixed.test/a.git", false},
		{"https://local.test/a.git", false},
		{"http://meta.test/latest", false},
		{"https://ula.test/a.git", false},
		{"https://mapped.test/a.git", false},
		{"http://127.0.0.1:8080/git/a.git", false},
		{"http://[::1]/a.git", false},
		{"http://0.0.0.0/a.git", false},
		{"http://100.64.1.1/a.git", false},
		{"https://unknown.test/a.git", false},
		// ssh clones with the worker's own keys: never for a stranger's URL.
		{"ssh://public.test/a.git", false},
		{"ssh://git@93.184.216.34/a.git", false},
	} {
		addrs, err := CheckGitHost(context.Background(), r, c.url)
		if c.ok != (err == nil) {
			t.Errorf("CheckGitHost(%s) = %v %v, want ok=%v", c.url, addrs, err, c.ok)
		}
	}
	if _, err := CheckGitHost(context.Background(), r, "https://local.test/a"); !errors.Is(err, ErrPrivateAddress) {
		t.Errorf("loopback: %v, want ErrPrivateAddress", err)
	}
}

// TestCloneCredentials: a clone from a server that wants HTTP Basic
// credentials gets them through the credential helper; they are not on
// git's command line or in the log, and a pinned address is where git
// connects whatever the host name.
func TestCloneCredentials(t *testing.T) {
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("git is not installed (make deps installs it): %v", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	root := t.TempDir()
	repo := filepath.Join(root, "app.git")
	work := t.TempDir()
	run := func(dir string, args ...string) {
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@t"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	run(work, "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(work, "a.txt"), []byte("one"), 0o644)
	run(work, "add", ".")
	run(work, "commit", "-q", "-m", "one")
	run(root, "clone", "-q", "--bare", work, repo)
	var argv []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, p, ok := r.BasicAuth(); !ok || p != "s3cret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="t"`)
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		(&cgi.Handler{Path: backend, Dir: root, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}).ServeHTTP(w, r)
	}))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	raw := "http://kiln:s3cret@git.invalid:" + port + "/app.git"
	u, cr, err := SplitGitURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	// A git on PATH that records its arguments, then runs the real one.
	realGit, _ := exec.LookPath("git")
	bin := t.TempDir()
	argFile := filepath.Join(bin, "args")
	os.WriteFile(filepath.Join(bin, "git"), []byte("#!/bin/sh\necho \"$@\" >> "+argFile+"\nexec "+realGit+" \"$@\"\n"), 0o755)
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	var log bytes.Buffer
	dir := filepath.Join(t.TempDir(), "src")
	_, err = Clone(context.Background(), CloneOptions{URL: u, Ref: "main", Credentials: cr, Pin: netip.MustParseAddr("127.0.0.1")}, dir, &log)
	if err != nil {
		t.Fatalf("Clone: %v\n%s", err, log.String())
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a.txt")); string(b) != "one" {
		t.Errorf("a.txt = %q", b)
	}
	args, _ := os.ReadFile(argFile)
	argv = strings.Split(strings.TrimSpace(string(args)), "\n")
	if len(argv) < 2 || strings.Contains(string(args), "s3cret") {
		t.Errorf("git's command lines hold the password or were not recorded:\n%s", args)
	}
	if strings.Contains(log.String(), "s3cret") {
		t.Errorf("the log holds the password:\n%s", log.String())
	}
	// Without credentials the server refuses, and git does not prompt.
	log.Reset()
	if _, err := Clone(context.Background(), CloneOptions{URL: u, Ref: "main", Pin: netip.MustParseAddr("127.0.0.1")}, filepath.Join(t.TempDir(), "x"), &log); err == nil {
		t.Error("a clone without credentials worked")
	}
}

// TestClonePinsGitProtocol: a git:// URL is fetched from the pinned
// address, not from a second lookup of its host name (which a hostile
// DNS server would answer with a private address): here the name does
// not resolve at all, and the clone works only through the pin.
func TestClonePinsGitProtocol(t *testing.T) {
	root := t.TempDir()
	work := t.TempDir()
	run := func(dir string, args ...string) {
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@t"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	run(work, "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(work, "a.txt"), []byte("one"), 0o644)
	run(work, "add", ".")
	run(work, "commit", "-q", "-m", "one")
	run(root, "clone", "-q", "--bare", work, "app.git")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	daemon := exec.Command("git", "daemon", "--reuseaddr", "--export-all", "--base-path="+root,
		"--listen=127.0.0.1", fmt.Sprintf("--port=%d", port), root)
	if err := daemon.Start(); err != nil {
		t.Fatalf("git daemon: %v", err)
	}
	t.Cleanup(func() { daemon.Process.Kill(); daemon.Wait() })
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", l.Addr().String()); err == nil {
			c.Close()
			break
		}
		if i > 100 {
			t.Fatal("git daemon does not listen")
		}
		time.Sleep(50 * time.Millisecond)
	}
	url := fmt.Sprintf("git://git.invalid:%d/app.git", port)
	var log bytes.Buffer
	dir := filepath.Join(t.TempDir(), "src")
	if _, err := Clone(context.Background(), CloneOptions{URL: url, Ref: "main", Pin: netip.MustParseAddr("127.0.0.1")}, dir, &log); err != nil {
		t.Fatalf("Clone through the pin: %v\n%s", err, log.String())
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a.txt")); string(b) != "one" {
		t.Errorf("a.txt = %q", b)
	}
	if got := pinGitURL("git://h.test/a.git", netip.MustParseAddr("2001:db8::1")); got != "git://[2001:db8::1]:9418/a.git" {
		t.Errorf("pinGitURL(IPv6) = %q", got)
	}
	if got := pinGitURL("https://h.test/a.git", netip.MustParseAddr("192.0.2.1")); got != "https://h.test/a.git" {
		t.Errorf("pinGitURL(https) = %q", got)
	}
}
