package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/kiln-build/kiln/internal/gitserve/gitref"
	"github.com/kiln-build/kiln/internal/service"
	"github.com/kiln-build/kiln/internal/service/runner"
)

// maxWebhookBody caps a webhook's payload.
const maxWebhookBody = 5 << 20

// New returns the handler of push webhooks (mount it at /hooks/
// without stripping the prefix): POST /hooks/github/APP and POST
// /hooks/gitlab/APP. A verified push to a branch is answered 202 with the
// queued build as JSON.
func New(b service.Builds) http.Handler { return &webhooks{b: b} }

type webhooks struct{ b service.Builds }

// push is what a push event says, from either host.
type push struct {
	Ref, After, CloneURL string
}

func (wh *webhooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host, app, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/hooks/"), "/")
	if host != "github" && host != "gitlab" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !service.ValidAppName(app) {
		http.Error(w, "app not found", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, fmt.Sprintf("payload above %d bytes", maxWebhookBody), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "reading the payload: "+err.Error(), http.StatusBadRequest)
		return
	}
	secret, err := wh.b.WebhookSecret(r.Context(), app)
	if errors.Is(err, service.ErrNotFound) {
		http.Error(w, "app not found or without a webhook secret", http.StatusNotFound)
		return
	} else if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var p *push
	var note string
	if host == "github" {
		p, note, err = github(r, body, secret)
	} else {
		p, note, err = gitlab(r, body, secret)
	}
	switch {
	case errors.Is(err, service.ErrUnauthorized):
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	case p == nil:
		writeJSON(w, http.StatusOK, map[string]string{"note": note})
		return
	}
	b, err := wh.b.Start(r.Context(), app, service.Source{GitURL: p.CloneURL, Ref: p.Ref, Commit: p.After, Trigger: service.TriggerWebhook})
	switch {
	case err == nil:
		writeJSON(w, http.StatusAccepted, b)
	case errors.Is(err, service.ErrNotFound):
		http.Error(w, "app not found", http.StatusNotFound)
	case errors.Is(err, service.ErrInvalid):
		http.Error(w, err.Error(), http.StatusBadRequest)
	default:
		http.Error(w, "queueing the build failed: internal error", http.StatusInternalServerError)
	}
}

// github verifies and reads a GitHub event. A nil push with no error is
// an event that builds nothing; note says why.
func github(r *http.Request, body []byte, secret string) (*push, string, error) {
	sig, ok := strings.CutPrefix(r.Header.Get("X-Hub-Signature-256"), "sha256=")
	got, err := hex.DecodeString(sig)
	if !ok || err != nil {
		return nil, "", fmt.Errorf("%w: missing or malformed X-Hub-Signature-256", service.ErrUnauthorized)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return nil, "", fmt.Errorf("%w: X-Hub-Signature-256 does not match", service.ErrUnauthorized)
	}
	switch ev := r.Header.Get("X-GitHub-Event"); ev {
	case "ping":
		return nil, "pong", nil
	case "push":
	default:
		return nil, fmt.Sprintf("event %q ignored: only push events build", ev), nil
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" {
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, "", fmt.Errorf("malformed form payload: %w", err)
		}
		body = []byte(v.Get("payload"))
	}
	var ev struct {
		Ref        string `json:"ref"`
		After      string `json:"after"`
		Deleted    bool   `json:"deleted"`
		Repository struct {
			CloneURL string `json:"clone_url"`
		} `json:"repository"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		return nil, "", fmt.Errorf("malformed payload: %w", err)
	}
	return checkPush(push{ev.Ref, ev.After, ev.Repository.CloneURL}, ev.Deleted)
}

// gitlab verifies and reads a GitLab event.
func gitlab(r *http.Request, body []byte, secret string) (*push, string, error) {
	tok := r.Header.Get("X-Gitlab-Token")
	a, b := sha256.Sum256([]byte(tok)), sha256.Sum256([]byte(secret))
	if tok == "" || subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
		return nil, "", fmt.Errorf("%w: missing or wrong X-Gitlab-Token", service.ErrUnauthorized)
	}
	switch ev := r.Header.Get("X-Gitlab-Event"); ev {
	case "Push Hook":
	case "Tag Push Hook":
		return nil, "tag push ignored: only a push to a branch builds", nil
	default:
		return nil, fmt.Sprintf("event %q ignored: only push events build", ev), nil
	}
	var ev struct {
		Ref     string `json:"ref"`
		After   string `json:"after"`
		Project struct {
			GitHTTPURL string `json:"git_http_url"`
		} `json:"project"`
		Repository struct {
			GitHTTPURL string `json:"git_http_url"`
		} `json:"repository"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		return nil, "", fmt.Errorf("malformed payload: %w", err)
	}
	u := ev.Project.GitHTTPURL
	if u == "" {
		u = ev.Repository.GitHTTPURL
	}
	return checkPush(push{ev.Ref, ev.After, u}, false)
}

// checkPush keeps what builds: a branch updated to a commit, from an
// http(s) URL.
func checkPush(p push, deleted bool) (*push, string, error) {
	if p.Ref == "" || p.After == "" {
		return nil, "", errors.New("payload lacks ref or after")
	}
	if !gitref.ValidRefName(p.Ref) || !gitref.IsObjectName(p.After) {
		return nil, "", errors.New("payload has a malformed ref or after")
	}
	if deleted || gitref.IsZero(p.After) {
		return nil, p.Ref + " deleted: nothing to build", nil
	}
	if !strings.HasPrefix(p.Ref, "refs/heads/") {
		return nil, p.Ref + " ignored: only a push to a branch builds", nil
	}
	if p.CloneURL == "" {
		return nil, "", errors.New("payload lacks the repository's clone URL")
	}
	if u, err := url.Parse(p.CloneURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, "", fmt.Errorf("clone URL %q is not an http(s) URL", runner.Redact(p.CloneURL))
	}
	return &p, "", nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
