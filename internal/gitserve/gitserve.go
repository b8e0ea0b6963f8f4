package gitserve

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/kiln-build/kiln/internal/service"
)

// Options configure New.
type Options struct {
	// Builds checks tokens and runs the builds. Required.
	Builds service.Builds
	// ReposDir holds one bare repository per app, APP.git. Required; it
	// is created when missing.
	ReposDir string
	// MaxPushSize caps the bytes of one push (its pack). Default 512 MiB.
	MaxPushSize int64
	// MaxSourceSize caps the tar of the pushed tree the hook makes.
	// Default 1 GiB.
	MaxSourceSize int64
	// Hook is the command the repositories' pre-receive hook execs.
	// Default: this program (os.Executable) with the argument
	// "serve-hook", which must call RunHook.
	Hook []string
	// HookURL is where the hook reaches this handler's /git/_hook
	// endpoint. Default: http:// (https:// for TLS) and the local
	// address the push came in on, then /git/_hook.
	HookURL string
	// HTTPBackend is git's CGI program. Default: git-http-backend in
	// `git --exec-path`.
	HTTPBackend string
	// Log gets the CGI program's error output and the handler's own
	// errors. Default: os.Stderr.
	Log io.Writer
}

const (
	defaultMaxPushSize   = 512 << 20
	defaultMaxSourceSize = 1 << 30
	// commandAllowance is what a push's request may carry on top of
	// its pack: the ref update commands and the push certificate.
	commandAllowance = 1 << 20
)

// handler serves /git/.
type handler struct {
	o       Options
	log     *log.Logger
	tickets *tickets
	hook    string // the pre-receive hook script (hookScript(o.Hook))
}

// New returns the handler of git smart-HTTP under /git/ (mount it there
// without stripping the prefix): /git/APP.git/info/refs,
// /git/APP.git/git-upload-pack, /git/APP.git/git-receive-pack, and the
// hooks' internal endpoint /git/_hook.
func New(o Options) (http.Handler, error) {
	if o.Builds == nil || o.ReposDir == "" {
		return nil, errors.New("gitserve: Builds and ReposDir are required")
	}
	if o.MaxPushSize <= 0 {
		o.MaxPushSize = defaultMaxPushSize
	}
	if o.MaxSourceSize <= 0 {
		o.MaxSourceSize = defaultMaxSourceSize
	}
	if o.Log == nil {
		o.Log = os.Stderr
	}
	if len(o.Hook) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("finding the kiln binary for the git hook: %w", err)
		}
		o.Hook = []string{exe, "serve-hook"}
	}
	if o.HTTPBackend == "" {
		p, err := httpBackend()
		if err != nil {
			return nil, err
		}
		o.HTTPBackend = p
	}
	dir, err := filepath.Abs(o.ReposDir)
	if err != nil {
		return nil, err
	}
	o.ReposDir = dir
	if err := os.MkdirAll(o.ReposDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the repositories' directory: %w", err)
	}
	return &handler{o: o, log: log.New(o.Log, "gitserve: ", 0), tickets: newTickets(), hook: hookScript(o.Hook)}, nil
}

// httpBackend finds git-http-backend.
func httpBackend() (string, error) {
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return "", fmt.Errorf("finding git's exec path (is git installed?): %w", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("git-http-backend: %w", err)
	}
	return p, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/git")
	if p == "/_hook" {
		h.serveHook(w, r)
		return
	}
	req, ok := parseGitPath(p, r)
	if !ok {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	h.serveGit(w, r, req)
}

// gitRequest is a smart-HTTP request for an app's repository.
type gitRequest struct {
	app  string
	rest string // info/refs, git-upload-pack or git-receive-pack
	push bool   // receive-pack (info/refs?service=git-receive-pack included)
}

// parseGitPath reads /APP.git/REST (or /APP/REST) and accepts only
// git's smart-HTTP endpoints.
func parseGitPath(p string, r *http.Request) (gitRequest, bool) {
	p, ok := strings.CutPrefix(p, "/")
	if !ok {
		return gitRequest{}, false
	}
	app, rest, ok := strings.Cut(p, "/")
	if !ok {
		return gitRequest{}, false
	}
	app = strings.TrimSuffix(app, ".git")
	if !service.ValidAppName(app) {
		return gitRequest{}, false
	}
	g := gitRequest{app: app, rest: rest}
	switch {
	case rest == "info/refs" && r.Method == http.MethodGet:
		switch r.URL.Query().Get("service") {
		case "git-receive-pack":
			g.push = true
		case "git-upload-pack":
		default:
			return gitRequest{}, false // dumb HTTP is not served
		}
	case rest == "git-upload-pack" && r.Method == http.MethodPost:
	case rest == "git-receive-pack" && r.Method == http.MethodPost:
		g.push = true
	default:
		return gitRequest{}, false
	}
	return g, true
}

// serveGit authenticates a smart-HTTP request and hands it to git
// http-backend.
func (h *handler) serveGit(w http.ResponseWriter, r *http.Request, g gitRequest) {
	admin, ok := h.authorize(w, r, g)
	if !ok {
		return
	}
	repo := filepath.Join(h.o.ReposDir, g.app+".git")
	if g.push {
		if err := h.ensureRepo(r.Context(), g.app, admin, repo); err != nil {
			h.fail(w, "preparing the repository", err)
			return
		}
	} else if _, err := os.Stat(repo); err != nil {
		http.Error(w, "repository not found: nothing was pushed to "+g.app+" yet", http.StatusNotFound)
		return
	}
	env := h.cgiEnv(admin)
	if g.push && g.rest == "git-receive-pack" {
		t := h.tickets.issue(g.app)
		defer h.tickets.revoke(t)
		hookURL, err := h.hookURL(r)
		if err != nil {
			h.fail(w, "finding the hook endpoint", err)
			return
		}
		env = append(env,
			envHookURL+"="+hookURL,
			envHookTicket+"="+t,
			envHookApp+"="+g.app,
			fmt.Sprintf("%s=%d", envHookMaxSource, h.o.MaxSourceSize),
		)
	}
	cr, body, err := h.cgiRequest(r, g)
	if errors.Is(err, errTooLarge) {
		http.Error(w, fmt.Sprintf("push refused: it is above the limit of %d bytes", h.o.MaxPushSize), http.StatusRequestEntityTooLarge)
		return
	} else if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ch := &cgi.Handler{
		Path:   h.o.HTTPBackend,
		Dir:    h.o.ReposDir,
		Env:    env,
		Logger: h.log,
		Stderr: h.o.Log,
	}
	ch.ServeHTTP(flushWriter{w}, cr)
	if body != nil {
		// Read what is left of a body git stopped reading (up to the
		// limit), so the client gets to read git's answer instead of a
		// reset connection.
		io.Copy(io.Discard, body)
	}
}

// cgiEnv is the environment git http-backend runs in: the repositories
// exported, git's configuration fixed (no global or system config), the
// push limits, and the token's kind as the remote user.
func (h *handler) cgiEnv(admin bool) []string {
	user := "deploy"
	if admin {
		user = "admin"
	}
	cfg := [][2]string{
		{"receive.maxInputSize", fmt.Sprint(h.o.MaxPushSize)},
		{"receive.fsckObjects", "true"},
		{"receive.denyDeletes", "true"},
	}
	env := []string{
		"GIT_PROJECT_ROOT=" + h.o.ReposDir,
		"GIT_HTTP_EXPORT_ALL=1",
		"REMOTE_USER=" + user,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"HOME=" + h.o.ReposDir,
		fmt.Sprintf("GIT_CONFIG_COUNT=%d", len(cfg)),
	}
	for i, kv := range cfg {
		env = append(env, fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", i, kv[0]), fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", i, kv[1]))
	}
	return env
}

// cgiRequest is r as git http-backend gets it: the path relative to
// ReposDir, without credentials (net/http/cgi would pass every header on
// as an HTTP_* variable), and for a push the body counted and
// capped (decoded first when gzip-encoded), sent as a stream without a
// length (net/http/cgi refuses chunked requests; git reads to the end).
// It returns the capped body to drain after the CGI program ends.
func (h *handler) cgiRequest(r *http.Request, g gitRequest) (*http.Request, io.Reader, error) {
	cr := r.Clone(r.Context())
	cr.URL.Path = "/" + g.app + ".git/" + g.rest
	cr.URL.RawPath = ""
	cr.Header.Del("Authorization") // tokens stay out of git's environment
	cr.Header.Del("Cookie")
	if r.Method != http.MethodPost {
		cr.Body, cr.ContentLength = http.NoBody, 0
		return cr, nil, nil
	}
	var body io.Reader = r.Body
	limit := h.o.MaxPushSize + commandAllowance
	if !g.push {
		limit = commandAllowance * 16 // fetch negotiation: haves and wants
	}
	if r.ContentLength > limit {
		return nil, nil, errTooLarge
	}
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(&capped{r: body, left: limit})
		if err != nil {
			return nil, nil, fmt.Errorf("reading the gzip-encoded request: %w", err)
		}
		body = zr
		cr.Header.Del("Content-Encoding")
	case "", "identity":
	default:
		return nil, nil, fmt.Errorf("unsupported Content-Encoding %q", enc)
	}
	c := &capped{r: body, left: limit}
	cr.Body = io.NopCloser(c)
	cr.ContentLength = -1
	cr.TransferEncoding = nil
	return cr, c, nil
}

// fail answers an unexpected error with 500 and logs it; the errors the
// contract names get their own status.
func (h *handler) fail(w http.ResponseWriter, doing string, err error) {
	switch {
	case errors.Is(err, service.ErrNotFound):
		http.Error(w, "app not found", http.StatusNotFound)
	case errors.Is(err, service.ErrUnauthorized):
		unauthorized(w)
	case errors.Is(err, service.ErrInvalid):
		http.Error(w, fmt.Sprintf("%s: %v", doing, err), http.StatusBadRequest)
	default:
		h.log.Printf("%s: %v", doing, err)
		http.Error(w, doing+": internal error", http.StatusInternalServerError)
	}
}

// flushWriter flushes every write, so git's progress and the build log
// reach the client as they come (net/http/cgi copies without flushing).
type flushWriter struct{ http.ResponseWriter }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.ResponseWriter.Write(p)
	if fl, ok := f.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}
