package gitserve

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/internal/gitserve/gitref"
	"github.com/kiln-build/kiln/internal/service"
)

const zeros = "0000000000000000000000000000000000000000"

func TestPlan(t *testing.T) {
	a, b := strings.Repeat("a", 40), strings.Repeat("b", 40)
	for _, tc := range []struct {
		name    string
		in      []update
		build   string // ref built, "" none
		notes   int
		wantErr string
	}{
		{"main", []update{{a, b, "refs/heads/main"}}, "refs/heads/main", 0, ""},
		{"master", []update{{zeros, b, "refs/heads/master"}}, "refs/heads/master", 0, ""},
		{"main over master", []update{{a, b, "refs/heads/master"}, {a, b, "refs/heads/main"}}, "refs/heads/main", 1, ""},
		{"other branch", []update{{a, b, "refs/heads/dev"}}, "", 2, ""},
		{"tag", []update{{zeros, b, "refs/tags/v1"}}, "", 2, ""},
		{"main and a tag", []update{{zeros, b, "refs/tags/v1"}, {a, b, "refs/heads/main"}}, "refs/heads/main", 1, ""},
		{"deletion", []update{{a, zeros, "refs/heads/dev"}}, "", 0, "deleting refs/heads/dev"},
		{"deletion beside main", []update{{a, b, "refs/heads/main"}, {a, zeros, "refs/tags/v1"}}, "", 0, "deleting refs/tags/v1"},
		{"nothing", nil, "", 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, notes, err := plan(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if u != nil {
				got = u.ref
			}
			if got != tc.build || len(notes) != tc.notes {
				t.Errorf("builds %q with notes %q, want %q and %d notes", got, notes, tc.build, tc.notes)
			}
		})
	}
}

func TestParseUpdates(t *testing.T) {
	a, b := strings.Repeat("a", 40), strings.Repeat("b", 64)
	got, err := parseUpdates(strings.NewReader(a + " " + a + " refs/heads/main\n" + b + " " + b + " refs/tags/x\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]update{{a, a, "refs/heads/main"}, {b, b, "refs/tags/x"}}, got, cmp.AllowUnexported(update{})); d != "" {
		t.Error(d)
	}
	for _, bad := range []string{
		"x y refs/heads/main\n",
		a + " " + a + "\n",
		a + " " + a + " refs/heads/a b\n",
		a + " " + a + " refs/heads/ok\n" + a + " " + a + " refs/heads/../../x\n",
		a + " " + a + " refs/heads/a\x01\n",
		strings.Repeat("A", 40) + " " + a + " refs/heads/main\n",
	} {
		if _, err := parseUpdates(strings.NewReader(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	// A ref name is data, shell characters included.
	if us, err := parseUpdates(strings.NewReader(a + " " + a + " refs/heads/$(reboot);`x`\n")); err != nil || us[0].ref != "refs/heads/$(reboot);`x`" {
		t.Errorf("%+v, %v", us, err)
	}
}

// FuzzParseUpdates: whatever git (or anyone) feeds the hook, it does not
// panic, and what it accepts is object names and refs without control
// characters or "..".
func FuzzParseUpdates(f *testing.F) {
	f.Add(strings.Repeat("a", 40) + " " + strings.Repeat("b", 40) + " refs/heads/main\n")
	f.Add("\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		us, err := parseUpdates(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, u := range us {
			if !gitref.IsObjectName(u.old) || !gitref.IsObjectName(u.new) || strings.ContainsAny(u.ref, "\x00\n\r ") || strings.Contains(u.ref, "..") {
				t.Errorf("accepted %+v", u)
			}
		}
		plan(us)
	})
}

// TestHookScript: the hook execs the command with every word intact,
// whatever it holds; no other shell runs.
func TestHookScript(t *testing.T) {
	dir := t.TempDir()
	words := []string{"/bin/echo", `it's "quoted" $HOME $(false) ` + "`x`", "a\nb"}
	p := filepath.Join(dir, "pre-receive")
	if err := os.WriteFile(p, []byte(hookScript(words)), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(p).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), strings.Join(words[1:], " ")+"\n"; got != want {
		t.Errorf("hook ran with %q, want %q", got, want)
	}
}

func TestCapped(t *testing.T) {
	for _, tc := range []struct {
		size, limit int
		tooLarge    bool
	}{{0, 0, false}, {10, 10, false}, {11, 10, true}, {1 << 20, 4096, true}, {4096, 1 << 20, false}} {
		n, err := io.Copy(io.Discard, &capped{r: bytes.NewReader(make([]byte, tc.size)), left: int64(tc.limit)})
		if got := errors.Is(err, errTooLarge); got != tc.tooLarge || n > int64(tc.limit) {
			t.Errorf("%d bytes, limit %d: read %d, err %v", tc.size, tc.limit, n, err)
		}
	}
}

// TestPushBodyCounted: what reaches git is counted as it streams: a
// chunked body and a gzip-encoded one are cut off at the limit, whatever
// their headers say. A stand-in CGI program counts what it gets.
func TestPushBodyCounted(t *testing.T) {
	dir := t.TempDir()
	cgiProg := filepath.Join(dir, "count")
	os.WriteFile(cgiProg, []byte("#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nwc -c\n"), 0o755)
	fake := newFake()
	const max = 4096
	s := newServer(t, fake, Options{MaxPushSize: max, HTTPBackend: cgiProg})
	limit := max + commandAllowance
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(make([]byte, 3*limit))
	zw.Close()
	for _, tc := range []struct {
		name     string
		body     io.Reader
		encoding string
		want     int
	}{
		{"chunked, small", io.MultiReader(strings.NewReader("hello")), "", 5},
		{"chunked, large", io.MultiReader(bytes.NewReader(make([]byte, 3*limit))), "", limit},
		{"gzip", bytes.NewReader(gz.Bytes()), "gzip", limit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", s.URL+"/git/x.git/git-receive-pack", tc.body)
			req.SetBasicAuth("kiln", "x-token")
			if tc.encoding != "" {
				req.Header.Set("Content-Encoding", tc.encoding)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var n int
			fmt.Sscan(string(out), &n)
			if n != tc.want {
				t.Errorf("the CGI program read %d bytes (%q), want %d", n, out, tc.want)
			}
		})
	}
}

// TestTruncatedPushLeavesNothing: a push whose stream stops in the middle
// of its pack (as when the size limit cuts it) leaves no object: git's
// quarantine goes with the failed receive-pack.
func TestTruncatedPushLeavesNothing(t *testing.T) {
	fake := newFake()
	s := newServer(t, fake, Options{})
	big := make([]byte, 2<<20)
	for i := range big {
		big[i] = byte(i * 7919 >> 3)
	}
	work := workRepo(t, map[string]string{"big": string(big), "small": "x"})
	head := mustGit(t, work, "rev-parse", "HEAD")
	cmd := exec.Command("git", "pack-objects", "--revs", "--stdout", "-q")
	cmd.Dir, cmd.Stdin = work, strings.NewReader("HEAD\n")
	pack, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	line := zeros + " " + head + " refs/heads/main\x00 report-status\n"
	body := fmt.Sprintf("%04x%s0000", len(line)+4, line) + string(pack[:len(pack)/2])
	// Make the repository, then push half a pack.
	req, _ := http.NewRequest("GET", s.URL+"/git/x.git/info/refs?service=git-receive-pack", nil)
	req.SetBasicAuth("kiln", "x-token")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatal(resp, err)
	}
	req, _ = http.NewRequest("POST", s.URL+"/git/x.git/git-receive-pack", io.MultiReader(strings.NewReader(body)))
	req.Header.Set("Content-Type", "application/x-git-receive-pack-request")
	req.SetBasicAuth("kiln", "x-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(out, []byte("unpack ")) || bytes.Contains(out, []byte("unpack ok")) {
		t.Errorf("receive-pack answered %q", out)
	}
	wantNoObjects(t, filepath.Join(s.repos, "x.git"))
	if n := len(fake.calls()); n != 0 {
		t.Errorf("%d builds", n)
	}
}

func TestReport(t *testing.T) {
	for _, tc := range []struct {
		b       service.Build
		out     string
		wantErr string
	}{
		{service.Build{ID: 3, Status: service.StatusSucceeded, Image: "r/a:latest", Digest: "sha256:ff"}, "image r/a:latest@sha256:ff\n", ""},
		{service.Build{ID: 3, Status: service.StatusFailed, Phase: "build", ExitCode: 51, Reason: "npm failed"}, "", "build 3 failed: phase build, exit code 51: npm failed"},
		{service.Build{ID: 3, Status: service.StatusFailed}, "", "phase unknown, exit code 0: unknown"},
		{service.Build{ID: 3, Status: service.StatusFailed, Phase: "detect", ExitCode: 20, Reason: "no group passed\n\nbuildpacks:\n  a: fail"}, "", "exit code 20: no group passed (details above)"},
		{service.Build{ID: 3, Status: service.StatusCanceled}, "", "canceled"},
		{service.Build{ID: 3, Status: service.StatusSuperseded}, "", "superseded by a newer push"},
		{service.Build{ID: 3, Status: service.StatusRunning}, "", `ended "running"`},
	} {
		var out bytes.Buffer
		err := report(&out, tc.b)
		if out.String() != tc.out || (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%+v: printed %q, err %v", tc.b, out.String(), err)
		}
	}
}

// TestHookOutsideServe: run by hand, the hook says what it is for.
func TestHookOutsideServe(t *testing.T) {
	var out bytes.Buffer
	if code := RunHook(t.Context(), strings.NewReader(""), &out, func(string) string { return "" }); code == 0 {
		t.Error("exit 0")
	}
	wantContains(t, out.String(), "runs only as the pre-receive hook")
}

// TestInstallHookConcurrent: pushes that replace a stale hook (kiln was
// moved or upgraded) at the same time do not fail one another, and never
// leave it half-written, even for a moment: git would run an empty or
// cut script (sh runs an empty one as success: the push would land
// without a build).
func TestInstallHookConcurrent(t *testing.T) {
	long := strings.Repeat("x", 64<<10) // a script that takes a while to write
	s := newServer(t, newFake(), Options{Hook: []string{"/bin/false", long}})
	h := s.h
	repo := filepath.Join(s.repos, "x.git")
	p := filepath.Join(repo, "hooks", "pre-receive")
	want := h.hook
	for round := 0; round < 20; round++ {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\nexec old\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		errs := make(chan error, 8)
		for range 8 {
			go func() { errs <- h.installHook(repo) }()
		}
		go func() {
			defer close(done)
			for range 100 {
				got, err := os.ReadFile(p)
				if err != nil {
					t.Errorf("round %d: %v", round, err)
					return
				}
				if s := string(got); s != want && s != "#!/bin/sh\nexec old\n" {
					t.Errorf("round %d: the hook was %d bytes, half-written", round, len(s))
					return
				}
			}
		}()
		for range 8 {
			if err := <-errs; err != nil {
				t.Errorf("round %d: %v", round, err)
			}
		}
		<-done
		if got, _ := os.ReadFile(p); string(got) != want {
			t.Fatalf("round %d: hook not installed", round)
		}
		if t.Failed() {
			return
		}
	}
}
