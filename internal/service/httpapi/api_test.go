package httpapi

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/service"
	"github.com/kiln-build/kiln/internal/service/runner"
	"github.com/kiln-build/kiln/internal/service/store"
)

const admin = "admin-token"

// scripted is a Builder that logs lines and then waits for release (when
// set) before succeeding.
type scripted struct{ release chan struct{} }

func (s scripted) Build(ctx context.Context, spec runner.Spec, log io.Writer) (runner.Report, error) {
	fmt.Fprintln(log, "===> DETECTING")
	fmt.Fprintln(log, "step one")
	if s.release != nil {
		select {
		case <-s.release:
		case <-ctx.Done():
			return runner.Report{ExitCode: 130, Phase: "build"}, nil
		}
	}
	fmt.Fprintln(log, "step two")
	return runner.Report{Digest: "sha256:" + strings.Repeat("0", 64)}, nil
}

type env struct {
	srv *httptest.Server
	svc *service.Service
	db  *store.DB
}

func newEnv(t *testing.T, workers int, b service.Builder) *env {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "kiln.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	svc, err := service.New(db, service.Options{RegistryPrefix: "r.test/apps", AdminToken: admin, Workers: workers, Builder: b,
		MaxSourceSize: 64 << 10, LogFlush: 10 * time.Millisecond, Poll: 10 * time.Millisecond, Resolver: publicResolver{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.StartWorkers(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(svc, nil))
	t.Cleanup(func() {
		srv.Close()
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		svc.Shutdown(sctx)
	})
	return &env{srv: srv, svc: svc, db: db}
}

// do sends a request with token (none when "") and returns the status
// and body.
func (e *env) do(t *testing.T, method, path, token, ctype string, body io.Reader) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func tarball(t *testing.T, gz bool) []byte {
	var buf bytes.Buffer
	var w io.Writer = &buf
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = zw
	}
	tw := tar.NewWriter(w)
	tw.WriteHeader(&tar.Header{Name: "index.html", Mode: 0o644, Size: 2, Typeflag: tar.TypeReg})
	tw.Write([]byte("hi"))
	tw.Close()
	if zw != nil {
		zw.Close()
	}
	return buf.Bytes()
}

func TestAPI(t *testing.T) {
	e := newEnv(t, 0, scripted{}) // no worker: builds stay queued
	j := "application/json"
	code, body := e.do(t, "POST", "/api/apps", admin, j, strings.NewReader(`{"name":"web","env":{"A":"1"}}`))
	if code != 201 || !strings.Contains(body, `"image": "r.test/apps/web"`) {
		t.Fatalf("create: %d %s", code, body)
	}
	code, body = e.do(t, "POST", "/api/apps/web/tokens", admin, "", nil)
	var tok struct{ Token string }
	json.Unmarshal([]byte(body), &tok)
	if code != 201 || !strings.HasPrefix(tok.Token, "kd_") {
		t.Fatalf("token: %d %s", code, body)
	}
	e.do(t, "POST", "/api/apps", admin, j, strings.NewReader(`{"name":"other"}`))
	deploy := tok.Token
	for _, tc := range []struct {
		method, path, token, ctype, body string
		want                             int
		has                              string
	}{
		{"GET", "/api/apps", admin, "", "", 200, `"name": "other"`},
		{"GET", "/api/apps", deploy, "", "", 200, `"name": "web"`},
		{"GET", "/api/apps", "", "", "", 401, "unauthorized"},
		{"GET", "/api/apps", "bad", "", "", 401, ""},
		{"GET", "/api/apps/web", deploy, "", "", 200, `"A": "1"`},
		{"GET", "/api/apps/other", deploy, "", "", 401, ""},
		{"GET", "/api/apps/nope", admin, "", "", 404, ""},
		{"GET", "/api/apps/nope", deploy, "", "", 404, ""},
		{"PATCH", "/api/apps/web", admin, j, `{"builder":"r.test/b:1"}`, 200, `"builder": "r.test/b:1"`},
		{"PATCH", "/api/apps/web", deploy, j, `{"builder":"x"}`, 403, "admin"},
		{"PATCH", "/api/apps/web", admin, j, `{"bogus":1}`, 400, "unknown field"},
		{"PATCH", "/api/apps/web", admin, j, `{"image":"Bad Ref"}`, 400, ""},
		{"PATCH", "/api/apps/nope", admin, j, `{}`, 404, ""},
		{"POST", "/api/apps", admin, j, `{"name":"web"}`, 400, "exists"},
		{"POST", "/api/apps", admin, j, `{"name":"Bad_Name"}`, 400, ""},
		{"POST", "/api/apps", admin, j, `not json`, 400, ""},
		{"POST", "/api/apps", deploy, j, `{"name":"x"}`, 403, ""},
		{"POST", "/api/apps", "", j, `{"name":"x"}`, 401, ""},
		{"POST", "/api/apps/nope/tokens", admin, "", "", 404, ""},
		{"POST", "/api/apps/web/builds", deploy, "application/x-tar", "not a tar, clearly not at all a tar", 400, "not a tar"},
		{"POST", "/api/apps/web/builds", deploy, "application/x-tar", strings.Repeat("x", 70<<10), 413, ""},
		{"POST", "/api/apps/web/builds", deploy, j, `{"git_url":"/etc"}`, 400, "git_url"},
		{"POST", "/api/apps/web/builds", deploy, j, `{"git_url":"file:///srv/x"}`, 400, "git_url"},
		{"POST", "/api/apps/web/builds", "", "application/x-tar", "x", 401, ""},
		{"POST", "/api/apps/nope/builds", admin, "application/x-tar", "x", 404, ""},
		{"GET", "/api/apps/web/builds?limit=0", deploy, "", "", 400, "limit"},
		{"GET", "/api/apps/nope/builds", admin, "", "", 404, ""},
		{"GET", "/api/builds/999", admin, "", "", 404, ""},
		{"GET", "/api/builds/abc", admin, "", "", 404, ""},
		{"GET", "/api/nothing", admin, "", "", 404, ""},
	} {
		code, body := e.do(t, tc.method, tc.path, tc.token, tc.ctype, strings.NewReader(tc.body))
		if code != tc.want || !strings.Contains(body, tc.has) {
			t.Errorf("%s %s (token %q): %d %s, want %d with %q", tc.method, tc.path, tc.token, code, body, tc.want, tc.has)
		}
	}
	// Nothing was half-written by the refused builds.
	var builds, sources, jobs int
	e.db.SQL.QueryRow(`SELECT COUNT(*) FROM kiln_builds`).Scan(&builds)
	e.db.SQL.QueryRow(`SELECT COUNT(*) FROM kiln_build_sources`).Scan(&sources)
	e.db.SQL.QueryRow(`SELECT COUNT(*) FROM river_job`).Scan(&jobs)
	if builds+sources+jobs != 0 {
		t.Errorf("refused requests left %d builds, %d sources, %d jobs", builds, sources, jobs)
	}

	// Builds: a tar.gz, a tar and a git URL; each supersedes the last.
	var ids []int64
	for _, req := range []struct{ ctype, body string }{
		{"application/gzip", string(tarball(t, true))},
		{"application/x-tar", string(tarball(t, false))},
		{j, `{"git_url":"https://git.test/web.git","ref":"main","commit":"abc123"}`},
	} {
		code, body := e.do(t, "POST", "/api/apps/web/builds", deploy, req.ctype, strings.NewReader(req.body))
		var b service.Build
		json.Unmarshal([]byte(body), &b)
		if code != 202 || b.Status != service.StatusQueued {
			t.Fatalf("start: %d %s", code, body)
		}
		ids = append(ids, b.ID)
	}
	code, body = e.do(t, "GET", "/api/apps/web/builds", deploy, "", nil)
	var list []service.Build
	json.Unmarshal([]byte(body), &list)
	if code != 200 || len(list) != 3 || list[0].ID != ids[2] || list[0].Ref != "main" || list[2].Status != service.StatusSuperseded {
		t.Errorf("list: %d %s", code, body)
	}
	path := fmt.Sprintf("/api/builds/%d", ids[2])
	if code, body := e.do(t, "GET", path, deploy, "", nil); code != 200 || !strings.Contains(body, `"commit": "abc123"`) {
		t.Errorf("get: %d %s", code, body)
	}
	otherTok, _ := e.svc.NewDeployToken(context.Background(), "other")
	if code, _ := e.do(t, "GET", path, otherTok, "", nil); code != 401 {
		t.Errorf("another app's token read a build: %d", code)
	}
	if code, body := e.do(t, "POST", path+"/cancel", deploy, "", nil); code != 202 || !strings.Contains(body, `"status": "canceled"`) {
		t.Errorf("cancel: %d %s", code, body)
	}
	if code, _ := e.do(t, "POST", path+"/cancel", deploy, "", nil); code != 409 {
		t.Errorf("cancel of an ended build: %d", code)
	}
	if code, _ := e.do(t, "DELETE", "/api/apps/web", deploy, "", nil); code != 403 {
		t.Errorf("delete with a deploy token: %d", code)
	}
	if code, _ := e.do(t, "DELETE", "/api/apps/web", admin, "", nil); code != 204 {
		t.Errorf("delete: %d", code)
	}
	if code, _ := e.do(t, "GET", path, admin, "", nil); code != 404 {
		t.Errorf("a deleted app's build: %d", code)
	}
	if code, _ := e.do(t, "DELETE", "/api/apps/web", admin, "", nil); code != 404 {
		t.Errorf("delete twice: %d", code)
	}
}

// sseEvent is one Server-Sent Event.
type sseEvent struct{ id, event, data string }

func readEvents(t *testing.T, r io.Reader) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	var data []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data != nil || cur.event != "" {
				cur.data = strings.Join(data, "\n")
				out = append(out, cur)
			}
			cur, data = sseEvent{}, nil
		case strings.HasPrefix(line, "id: "):
			cur.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			cur.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			data = append(data, line[6:])
		}
	}
	return out
}

func TestLogStreams(t *testing.T) {
	release := make(chan struct{})
	e := newEnv(t, 1, scripted{release: release})
	e.svc.CreateApp(context.Background(), "web", service.AppSettings{})
	code, body := e.do(t, "POST", "/api/apps/web/builds", admin, "application/x-tar", bytes.NewReader(tarball(t, false)))
	var b service.Build
	json.Unmarshal([]byte(body), &b)
	if code != 202 {
		t.Fatal(code, body)
	}
	logPath := fmt.Sprintf("%s/api/builds/%d/log", e.srv.URL, b.ID)
	// A live stream: the first lines arrive before the build ends.
	req, _ := http.NewRequest("GET", logPath, nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("content type %q", ct)
	}
	rd := bufio.NewReader(resp.Body)
	var seen strings.Builder
	for !strings.Contains(seen.String(), "step one") {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended early: %v\n%s", err, seen.String())
		}
		seen.WriteString(line)
	}
	close(release)
	rest := readEvents(t, rd)
	resp.Body.Close()
	if len(rest) == 0 || rest[len(rest)-1].event != "end" || !strings.Contains(rest[len(rest)-1].data, `"status":"succeeded"`) {
		t.Fatalf("events: %+v", rest)
	}
	// The full text.
	code, full := e.do(t, "GET", fmt.Sprintf("/api/builds/%d/log", b.ID), admin, "", nil)
	if code != 200 || !strings.Contains(full, "step one\nstep two\n") || !strings.Contains(full, "build succeeded") {
		t.Fatalf("log: %d %q", code, full)
	}
	// Resume from an offset (Last-Event-ID, or ?offset=): only what
	// follows, ids are byte offsets, and the data adds up to the log.
	off := strings.Index(full, "step two")
	for _, how := range []string{"header", "query"} {
		req, _ := http.NewRequest("GET", logPath, nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("Accept", "text/event-stream")
		if how == "header" {
			req.Header.Set("Last-Event-ID", fmt.Sprint(off))
		} else {
			req.URL.RawQuery = url.Values{"offset": {fmt.Sprint(off)}}.Encode()
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		evs := readEvents(t, resp.Body)
		resp.Body.Close()
		var text strings.Builder
		for _, ev := range evs {
			if ev.event == "" {
				text.WriteString(ev.data + "\n")
			}
		}
		if text.String() != full[off:] {
			t.Errorf("%s: resumed %q, want %q", how, text.String(), full[off:])
		}
		if last := evs[len(evs)-1]; last.event != "end" || last.id != fmt.Sprint(len(full)) {
			t.Errorf("%s: last event %+v", how, last)
		}
	}
	if code, _ := e.do(t, "GET", fmt.Sprintf("/api/builds/%d/log?offset=-1", b.ID), admin, "", nil); code != 400 {
		t.Errorf("a bad offset: %d", code)
	}
}

func TestSendable(t *testing.T) {
	for _, tc := range []struct {
		data string
		last bool
		want int
	}{
		{"a\nb", false, 2}, {"a\nb", true, 3}, {"partial", false, 0}, {"a\n", false, 2},
	} {
		if got := sendable([]byte(tc.data), tc.last); got != tc.want {
			t.Errorf("sendable(%q, %v) = %d, want %d", tc.data, tc.last, got, tc.want)
		}
	}
	long := bytes.Repeat([]byte("é"), sseBatch) // 2 bytes a rune
	if n := sendable(long[:sseBatch+1], false); n%2 != 0 {
		t.Errorf("cut inside a character at %d", n)
	}
	if got := string(logEvent([]byte("a\r\nb\rc\n"), 9)); got != "id: 9\ndata: a\ndata: b\ndata: c\n\n" {
		t.Errorf("event %q", got)
	}
}

func TestWebPage(t *testing.T) {
	e := newEnv(t, 1, scripted{})
	ctx := context.Background()
	e.svc.CreateApp(ctx, "web", service.AppSettings{})
	b, err := e.svc.Start(ctx, "web", service.Source{Tarball: bytes.NewReader(tarball(t, false))})
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	get := func(p string) (int, string) {
		resp, err := c.Get(e.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get("/"); code != 401 || !strings.Contains(body, `name="token"`) {
		t.Errorf("logged out: %d %s", code, body)
	}
	resp, _ := c.PostForm(e.srv.URL+"/login", url.Values{"token": {"wrong"}})
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("a bad login: %d", resp.StatusCode)
	}
	resp, err = c.PostForm(e.srv.URL+"/login", url.Values{"token": {admin}, "next": {"/apps/web"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), fmt.Sprintf(`href="/builds/%d"`, b.ID)) {
		t.Errorf("after login, the app page: %d %s", resp.StatusCode, body)
	}
	u, _ := url.Parse(e.srv.URL)
	for _, ck := range jar.Cookies(u) {
		if ck.Name == cookieName && ck.Value != admin {
			t.Errorf("cookie %q", ck.Value)
		}
	}
	if code, body := get("/"); code != 200 || !strings.Contains(body, `href="/apps/web"`) {
		t.Errorf("apps page: %d %s", code, body)
	}
	if code, body := get(fmt.Sprintf("/builds/%d", b.ID)); code != 200 || !strings.Contains(body, `id="log"`) || !strings.Contains(body, `data-build="`) {
		t.Errorf("build page: %d %s", code, body)
	}
	if code, _ := get("/builds/999"); code != 404 {
		t.Errorf("unknown build page: %d", code)
	}
	if code, body := get("/static/kiln.js"); code != 200 || !strings.Contains(body, "EventSource") {
		t.Errorf("script: %d", code)
	}
	// The cookie authenticates the API, but a change needs the header a
	// cross-site form cannot send.
	if code, _ := get(fmt.Sprintf("/api/builds/%d", b.ID)); code != 200 {
		t.Errorf("API with the cookie: %d", code)
	}
	resp, _ = c.Post(e.srv.URL+"/api/apps", "application/json", strings.NewReader(`{"name":"csrf"}`))
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("a cookie-authenticated change without the header: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/apps", strings.NewReader(`{"name":"viaweb"}`))
	req.Header.Set(csrfHeader, "1")
	resp, _ = c.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Errorf("with the header: %d", resp.StatusCode)
	}
}

// publicResolver resolves every name to a public address (test hosts
// such as git.test have none).
type publicResolver struct{}

func (publicResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
}
