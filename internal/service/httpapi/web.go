package httpapi

import (
	"embed"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/kiln-build/kiln/internal/service"
)

//go:embed templates/*.html static/*
var webFS embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"when": func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") },
	"ms":   func(d time.Duration) string { return d.Round(time.Millisecond).String() },
}).ParseFS(webFS, "templates/*.html"))

// web adds the page's routes to mux.
func (a *api) web(mux *http.ServeMux) {
	mux.Handle("GET /static/", http.FileServerFS(webFS))
	mux.HandleFunc("GET /{$}", a.page(a.appsPage))
	mux.HandleFunc("GET /apps/{app}", a.page(a.appPage))
	mux.HandleFunc("GET /builds/{id}", a.page(a.buildPage))
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("POST /logout", a.logout)
}

// page runs h for a request whose cookie holds a valid token, and shows
// the login form otherwise.
func (a *api) page(h func(w http.ResponseWriter, r *http.Request, tok string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		secure(w)
		c, err := r.Cookie(cookieName)
		if err != nil {
			a.render(w, http.StatusUnauthorized, "login.html", map[string]any{"Next": r.URL.Path})
			return
		}
		if _, _, err := a.s.Apps(r.Context(), c.Value); err != nil {
			a.render(w, http.StatusUnauthorized, "login.html", map[string]any{"Next": r.URL.Path, "Error": "Your session's token is no longer valid."})
			return
		}
		if err := h(w, r, c.Value); err != nil {
			code := http.StatusInternalServerError
			switch {
			case errors.Is(err, service.ErrNotFound):
				code = http.StatusNotFound
			case errors.Is(err, service.ErrUnauthorized):
				code = http.StatusForbidden
			}
			a.render(w, code, "error.html", map[string]any{"Error": err.Error()})
		}
	}
}

// secure sets the headers every page gets.
func secure(w http.ResponseWriter) {
	w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
}

func (a *api) render(w http.ResponseWriter, code int, name string, data map[string]any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		a.log.Warn("rendering a page", "page", name, "err", err)
	}
}

func (a *api) login(w http.ResponseWriter, r *http.Request) {
	secure(w)
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	tok := r.PostFormValue("token")
	next := r.PostFormValue("next")
	if next == "" || next[0] != '/' || (len(next) > 1 && (next[1] == '/' || next[1] == '\\')) {
		next = "/"
	}
	if _, _, err := a.s.Apps(r.Context(), tok); err != nil {
		a.render(w, http.StatusUnauthorized, "login.html", map[string]any{"Next": next, "Error": "That token is not valid."})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: tok, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: 7 * 24 * 3600})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (a *api) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *api) appsPage(w http.ResponseWriter, r *http.Request, tok string) error {
	apps, err := a.visibleApps(r.Context(), tok)
	if err != nil {
		return err
	}
	a.render(w, http.StatusOK, "apps.html", map[string]any{"Apps": apps})
	return nil
}

func (a *api) appPage(w http.ResponseWriter, r *http.Request, tok string) error {
	name := r.PathValue("app")
	if _, err := a.s.Authorize(r.Context(), name, tok); err != nil {
		return err
	}
	app, err := a.s.GetApp(r.Context(), name)
	if err != nil {
		return err
	}
	builds, err := a.s.ListBuilds(r.Context(), name, 100)
	if err != nil {
		return err
	}
	a.render(w, http.StatusOK, "app.html", map[string]any{"App": app, "Builds": builds})
	return nil
}

func (a *api) buildPage(w http.ResponseWriter, r *http.Request, tok string) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return service.ErrNotFound
	}
	b, err := a.s.GetBuild(r.Context(), id)
	if err != nil {
		return err
	}
	if _, err := a.s.Authorize(r.Context(), b.App, tok); err != nil {
		return err
	}
	a.render(w, http.StatusOK, "build.html", map[string]any{"Build": b})
	return nil
}
