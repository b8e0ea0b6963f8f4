package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/kiln-build/kiln/internal/service"
)

// cookieName is the web page's session cookie: it holds the token.
const cookieName = "kiln_token"

// csrfHeader must accompany a cookie-authenticated request that changes
// something.
const csrfHeader = "X-Kiln-Request"

type api struct {
	s   *service.Service
	log *slog.Logger
}

// New returns the handler of the API (/api/) and the web page (/).
func New(s *service.Service, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	a := &api{s: s, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/apps", a.admin(a.createApp))
	mux.HandleFunc("GET /api/apps", a.listApps)
	mux.HandleFunc("GET /api/apps/{app}", a.forApp(a.getApp))
	mux.HandleFunc("PATCH /api/apps/{app}", a.admin(a.updateApp))
	mux.HandleFunc("DELETE /api/apps/{app}", a.admin(a.deleteApp))
	mux.HandleFunc("POST /api/apps/{app}/tokens", a.admin(a.newToken))
	mux.HandleFunc("POST /api/apps/{app}/builds", a.forApp(a.startBuild))
	mux.HandleFunc("GET /api/apps/{app}/builds", a.forApp(a.listBuilds))
	mux.HandleFunc("GET /api/builds/{id}", a.forBuild(a.getBuild))
	mux.HandleFunc("GET /api/builds/{id}/log", a.forBuild(a.buildLog))
	mux.HandleFunc("POST /api/builds/{id}/cancel", a.forBuild(a.cancel))
	mux.HandleFunc("POST /api/rebase", a.admin(a.rebase))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, fmt.Errorf("no such API call: %s %s: %w", r.Method, r.URL.Path, service.ErrNotFound))
	})
	a.web(mux)
	return mux
}

// token is the request's token: the bearer token, else the cookie's.
// fromCookie says it came from the cookie.
func token(r *http.Request) (tok string, fromCookie bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t), false
		}
		return "", false
	}
	if c, err := r.Cookie(cookieName); err == nil {
		return c.Value, true
	}
	return "", false
}

// csrfOK: a cookie-authenticated request that changes something must
// carry csrfHeader.
func csrfOK(r *http.Request, fromCookie bool) bool {
	return !fromCookie || r.Method == http.MethodGet || r.Method == http.MethodHead || r.Header.Get(csrfHeader) != ""
}

var errForbidden = errors.New("forbidden")

// requestToken is the request's token (header or cookie), or false after
// answering: a cookie-authenticated change without the CSRF header is
// forbidden; with required, a missing token is unauthorized.
func requestToken(w http.ResponseWriter, r *http.Request, required bool) (string, bool) {
	tok, fromCookie := token(r)
	if !csrfOK(r, fromCookie) {
		writeError(w, fmt.Errorf("a cookie-authenticated change needs the %s header: %w", csrfHeader, errForbidden))
		return "", false
	}
	if required && tok == "" {
		writeError(w, fmt.Errorf("a token is required: %w", service.ErrUnauthorized))
		return "", false
	}
	return tok, true
}

// admin lets the admin token through.
func (a *api) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := requestToken(w, r, false)
		if !ok {
			return
		}
		if a.s.IsAdmin(tok) {
			h(w, r)
			return
		}
		if _, _, err := a.s.Apps(r.Context(), tok); err == nil {
			writeError(w, fmt.Errorf("this call needs the admin token: %w", errForbidden))
			return
		}
		writeError(w, fmt.Errorf("a valid admin token is required: %w", service.ErrUnauthorized))
	}
}

// forApp lets the admin token and the deploy tokens of {app} through.
func (a *api) forApp(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := requestToken(w, r, true)
		if !ok {
			return
		}
		app := r.PathValue("app")
		if _, err := a.s.Authorize(r.Context(), app, tok); err != nil {
			writeError(w, err)
			return
		}
		if _, err := a.s.GetApp(r.Context(), app); err != nil {
			writeError(w, err)
			return
		}
		h(w, r)
	}
}

type buildKey struct{}

// forBuild lets the admin token and the deploy tokens of {id}'s app
// through, with the build in the request's context.
func (a *api) forBuild(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := requestToken(w, r, true)
		if !ok {
			return
		}
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil || id <= 0 {
			writeError(w, fmt.Errorf("build %q: %w", r.PathValue("id"), service.ErrNotFound))
			return
		}
		b, err := a.s.GetBuild(r.Context(), id)
		if err != nil {
			writeError(w, err)
			return
		}
		if _, err := a.s.Authorize(r.Context(), b.App, tok); err != nil {
			writeError(w, err)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), buildKey{}, b)))
	}
}

func buildOf(r *http.Request) service.Build { return r.Context().Value(buildKey{}).(service.Build) }

// writeError answers with err's status and {"error": message}.
func writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, service.ErrUnauthorized):
		code = http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", `Bearer realm="kiln"`)
	case errors.Is(err, errForbidden):
		code = http.StatusForbidden
	case errors.Is(err, service.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, service.ErrInvalid):
		code = http.StatusBadRequest
	case errors.Is(err, service.ErrTooLarge):
		code = http.StatusRequestEntityTooLarge
	case errors.Is(err, service.ErrFinished):
		code = http.StatusConflict
	}
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// decode reads a JSON body of at most 1 MiB into v, refusing unknown
// fields.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("reading the JSON body: %v: %w", err, service.ErrInvalid)
	}
	if dec.More() {
		return fmt.Errorf("reading the JSON body: more than one value: %w", service.ErrInvalid)
	}
	return nil
}

func (a *api) createApp(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name"`
		service.AppSettings
	}
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	app, err := a.s.CreateApp(r.Context(), req.Name, req.AppSettings)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, app)
}

func (a *api) listApps(w http.ResponseWriter, r *http.Request) {
	tok, _ := token(r)
	apps, err := a.visibleApps(r.Context(), tok)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, apps)
}

// visibleApps are the apps tok may see.
func (a *api) visibleApps(ctx context.Context, tok string) ([]service.App, error) {
	admin, names, err := a.s.Apps(ctx, tok)
	if err != nil {
		return nil, err
	}
	if admin {
		return a.s.ListApps(ctx)
	}
	apps := []service.App{}
	for _, n := range names {
		app, err := a.s.GetApp(ctx, n)
		if err == nil {
			apps = append(apps, app)
		}
	}
	return apps, nil
}

func (a *api) getApp(w http.ResponseWriter, r *http.Request) {
	app, err := a.s.GetApp(r.Context(), r.PathValue("app"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, app)
}

func (a *api) updateApp(w http.ResponseWriter, r *http.Request) {
	var set service.AppSettings
	if err := decode(r, &set); err != nil {
		writeError(w, err)
		return
	}
	app, err := a.s.UpdateApp(r.Context(), r.PathValue("app"), set)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, app)
}

func (a *api) deleteApp(w http.ResponseWriter, r *http.Request) {
	if err := a.s.DeleteApp(r.Context(), r.PathValue("app")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// rebase checks every app's run image now (say, after a stack build
// published a patched one) and queues a rebase of each app whose run
// image moved.
func (a *api) rebase(w http.ResponseWriter, r *http.Request) {
	checks, err := a.s.CheckRunImages(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, checks)
}

func (a *api) newToken(w http.ResponseWriter, r *http.Request) {
	tok, err := a.s.NewDeployToken(r.Context(), r.PathValue("app"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"app": r.PathValue("app"), "token": tok})
}

// startBuild starts a build from the body: JSON {"git_url", "ref",
// "commit"}, or else a tar or tar.gz of the source tree.
func (a *api) startBuild(w http.ResponseWriter, r *http.Request) {
	src := service.Source{Trigger: service.TriggerAPI}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		var req struct {
			GitURL string `json:"git_url"`
			Ref    string `json:"ref"`
			Commit string `json:"commit"`
		}
		if err := decode(r, &req); err != nil {
			writeError(w, err)
			return
		}
		if err := checkGitURL(req.GitURL); err != nil {
			writeError(w, err)
			return
		}
		src.GitURL, src.Ref, src.Commit = req.GitURL, req.Ref, req.Commit
	} else {
		if max := a.s.Options().MaxSourceSize; r.ContentLength > max {
			writeError(w, fmt.Errorf("the source is %d bytes, above the limit of %d: %w", r.ContentLength, max, service.ErrTooLarge))
			return
		}
		src.Tarball = r.Body
	}
	b, err := a.s.Start(r.Context(), r.PathValue("app"), src)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Location", fmt.Sprintf("/api/builds/%d", b.ID))
	writeJSON(w, http.StatusAccepted, b)
}

// checkGitURL allows the network transports only: a file path or file://
// URL would make the worker read this machine's repositories.
func checkGitURL(u string) error {
	for _, p := range []string{"https://", "http://", "git://", "ssh://"} {
		if strings.HasPrefix(u, p) && len(u) > len(p) {
			return nil
		}
	}
	return fmt.Errorf("git_url %q: want an https://, http://, git:// or ssh:// URL: %w", u, service.ErrInvalid)
}

func (a *api) listBuilds(w http.ResponseWriter, r *http.Request) {
	limit := 50
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, fmt.Errorf("limit %q: want 1-1000: %w", s, service.ErrInvalid))
			return
		}
		limit = n
	}
	bs, err := a.s.ListBuilds(r.Context(), r.PathValue("app"), limit)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, bs)
}

func (a *api) getBuild(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, buildOf(r))
}

func (a *api) cancel(w http.ResponseWriter, r *http.Request) {
	b, err := a.s.Cancel(r.Context(), buildOf(r).ID)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, b)
}
