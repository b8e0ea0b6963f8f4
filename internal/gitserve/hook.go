package gitserve

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/kiln-build/kiln/internal/gitserve/gitref"
	"github.com/kiln-build/kiln/internal/service"
)

// The environment the handler gives git http-backend for a push, which
// git passes on to the pre-receive hook.
const (
	envHookURL       = "KILN_HOOK_URL"
	envHookTicket    = "KILN_HOOK_TICKET"
	envHookApp       = "KILN_HOOK_APP"
	envHookMaxSource = "KILN_HOOK_MAX_SOURCE"
)

// The hook protocol's headers: the hook sends its ticket; the answer
// names the build, and its trailer holds the build as it ended
// (base64url of its JSON).
const (
	hdrTicket  = "Kiln-Hook-Ticket"
	hdrBuildID = "Kiln-Build-Id"
	hdrBuild   = "Kiln-Build"
)

// hookURL is where this push's hook reaches serveHook.
func (h *handler) hookURL(r *http.Request) (string, error) {
	if h.o.HookURL != "" {
		return h.o.HookURL, nil
	}
	addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok || addr.Network() != "tcp" {
		return "", errors.New("the push did not come over TCP; set gitserve.Options.HookURL")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + addr.String() + "/git/_hook", nil
}

// serveHook is the internal endpoint a push's pre-receive hook posts the
// pushed tree to: POST /git/_hook?ref=REF&commit=SHA with a ticket, the
// body a gzip-compressed tar. It starts the build of the ticket's app,
// streams its log and ends with the build in a trailer.
func (h *handler) serveHook(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	app, ok := h.tickets.claim(r.Header.Get(hdrTicket))
	if !ok {
		http.Error(w, "forbidden: this endpoint is for kiln's git hook", http.StatusForbidden)
		return
	}
	q := r.URL.Query()
	ref, commit := q.Get("ref"), q.Get("commit")
	if !strings.HasPrefix(ref, "refs/heads/") || !gitref.ValidRefName(ref) || !gitref.IsObjectName(commit) {
		http.Error(w, "bad ref or commit", http.StatusBadRequest)
		return
	}
	src := service.Source{
		Tarball: r.Body, // Start reads it up to the service's limit (ErrTooLarge)
		Ref:     ref,
		Commit:  commit,
		Trigger: service.TriggerPush,
	}
	b, err := h.o.Builds.Start(r.Context(), app, src)
	if err != nil {
		h.startFailed(w, app, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Trailer", hdrBuild)
	w.Header().Set(hdrBuildID, fmt.Sprint(b.ID))
	w.WriteHeader(http.StatusOK)
	fw := flushWriter{w}
	fw.Write(nil)
	end, err := h.o.Builds.Follow(r.Context(), b.ID, 0, fw)
	if err != nil {
		h.log.Printf("following build %d of %s: %v", b.ID, app, err)
		return // no trailer: the hook reports the lost end
	}
	js, err := json.Marshal(end)
	if err != nil {
		h.log.Printf("encoding build %d: %v", b.ID, err)
		return
	}
	w.Header().Set(hdrBuild, base64.RawURLEncoding.EncodeToString(js))
}

// startFailed answers a Start that failed with a message for the push.
func (h *handler) startFailed(w http.ResponseWriter, app string, err error) {
	switch {
	case errors.Is(err, service.ErrTooLarge):
		http.Error(w, "the source tree is too large: "+err.Error(), http.StatusRequestEntityTooLarge)
	case errors.Is(err, service.ErrNotFound):
		http.Error(w, "app "+app+" not found", http.StatusNotFound)
	case errors.Is(err, service.ErrInvalid):
		http.Error(w, "the build was refused: "+err.Error(), http.StatusBadRequest)
	default:
		h.log.Printf("starting a build of %s: %v", app, err)
		http.Error(w, "starting the build failed: internal error", http.StatusInternalServerError)
	}
}
