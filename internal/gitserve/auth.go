package gitserve

import (
	"errors"
	"net/http"

	"github.com/kiln-build/kiln/internal/service"
)

// authorize checks the request's token for g.app and answers the request
// itself when it fails: 401 with a Basic challenge for a missing or bad
// token, 404 for an unknown app. It reports whether the token is the
// admin token, which Authorize accepts for any app, existing or not (a
// push with it creates the app: ensureRepo).
func (h *handler) authorize(w http.ResponseWriter, r *http.Request, g gitRequest) (admin, ok bool) {
	_, token, hasAuth := r.BasicAuth()
	if !hasAuth || token == "" {
		unauthorized(w)
		return false, false
	}
	admin, err := h.o.Builds.Authorize(r.Context(), g.app, token)
	switch {
	case err == nil:
		return admin, true
	case errors.Is(err, service.ErrNotFound):
		http.Error(w, "app "+g.app+" not found", http.StatusNotFound)
	case errors.Is(err, service.ErrUnauthorized):
		unauthorized(w)
	default:
		h.fail(w, "checking the token", err)
	}
	return false, false
}

// unauthorized answers 401 with the challenge that makes git ask for (or
// send) credentials.
func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="kiln"`)
	http.Error(w, "a kiln token is required: use it as the password (any user name)", http.StatusUnauthorized)
}
