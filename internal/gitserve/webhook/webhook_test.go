package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/internal/gitserve/gitref"
	"github.com/kiln-build/kiln/internal/service"
)

const (
	sha1   = "0123456789abcdef0123456789abcdef01234567"
	zeros  = "0000000000000000000000000000000000000000"
	ghURL  = "https://github.com/acme/x.git"
	glURL  = "https://gitlab.example.com/acme/x.git"
	secret = "x-secret"
)

func githubPush(ref, after string) string {
	return `{"ref":"` + ref + `","before":"` + zeros + `","after":"` + after + `","deleted":` +
		map[bool]string{true: "true", false: "false"}[after == zeros] +
		`,"repository":{"clone_url":"` + ghURL + `","full_name":"acme/x"}}`
}

func gitlabPush(ref, after, u string) string {
	return `{"object_kind":"push","ref":"` + ref + `","after":"` + after + `","project":{"git_http_url":"` + u + `"}}`
}

func sign(key, body string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// TestWebhooks: what GitHub and GitLab events queue, and what they are
// answered.
func TestWebhooks(t *testing.T) {
	form := "payload=" + url.QueryEscape(githubPush("refs/heads/main", sha1))
	for _, tc := range []struct {
		name    string
		path    string
		headers map[string]string
		body    string
		want    int
		queued  *service.Source // nil: nothing queued
	}{
		{"github push", "/hooks/github/x",
			map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": sign(secret, githubPush("refs/heads/main", sha1))},
			githubPush("refs/heads/main", sha1), 202,
			&service.Source{GitURL: ghURL, Ref: "refs/heads/main", Commit: sha1, Trigger: service.TriggerWebhook}},
		{"github push, form-encoded", "/hooks/github/x",
			map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": sign(secret, form), "Content-Type": "application/x-www-form-urlencoded"},
			form, 202,
			&service.Source{GitURL: ghURL, Ref: "refs/heads/main", Commit: sha1, Trigger: service.TriggerWebhook}},
		{"github other branch", "/hooks/github/x",
			map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": sign(secret, githubPush("refs/heads/dev", sha1))},
			githubPush("refs/heads/dev", sha1), 202,
			&service.Source{GitURL: ghURL, Ref: "refs/heads/dev", Commit: sha1, Trigger: service.TriggerWebhook}},
		{"github wrong signature", "/hooks/github/x",
			map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": sign("guess", githubPush("refs/heads/main", sha1))},
			githubPush("refs/heads/main", sha1), 401, nil},
		{"github signature of another body", "/hooks/github/x",
			map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": sign(secret, githubPush("refs/heads/main", zeros))},
			githubPush("refs/heads/main", sha1), 401, nil},
		{"github missing signature", "/hooks/github/x",
			map[string]string{"X-GitHub-Event": "push"}, githubPush("refs/heads/main", sha1), 401, nil},
		{"github sha1 signature only", "/hooks/github/x",
			map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature": "sha1=00"}, githubPush("refs/heads/main", sha1), 401, nil},
		{"github ping", "/hooks/github/x",
			map[string]string{"X-GitHub-Event": "ping", "X-Hub-Signature-256": sign(secret, `{"zen":"hi"}`)}, `{"zen":"hi"}`, 200, nil},
		{"github unsigned ping", "/hooks/github/x",
			map[string]string{"X-GitHub-Event": "ping"}, `{"zen":"hi"}`, 401, nil},
		{"github other event", "/hooks/github/x",
			map[string]string{"X-GitHub-Event": "issues", "X-Hub-Signature-256": sign(secret, `{}`)}, `{}`, 200, nil},
		{"github deletion", "/hooks/github/x",
			map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": sign(secret, githubPush("refs/heads/main", zeros))},
			githubPush("refs/heads/main", zeros), 200, nil},
		{"github tag", "/hooks/github/x",
			map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": sign(secret, githubPush("refs/tags/v1", sha1))},
			githubPush("refs/tags/v1", sha1), 200, nil},
		{"github malformed", "/hooks/github/x",
			map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": sign(secret, `{"ref":`)}, `{"ref":`, 400, nil},
		{"github missing fields", "/hooks/github/x",
			map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": sign(secret, `{"ref":"refs/heads/main"}`)}, `{"ref":"refs/heads/main"}`, 400, nil},
		{"github bad after", "/hooks/github/x",
			map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": sign(secret, githubPush("refs/heads/main", "--upload-pack=x"))},
			githubPush("refs/heads/main", "--upload-pack=x"), 400, nil},
		{"github file URL", "/hooks/github/x",
			map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": sign(secret, strings.Replace(githubPush("refs/heads/main", sha1), ghURL, "file:///srv/repos/y.git", 1))},
			strings.Replace(githubPush("refs/heads/main", sha1), ghURL, "file:///srv/repos/y.git", 1), 400, nil},
		{"github ext URL", "/hooks/github/x",
			map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": sign(secret, strings.Replace(githubPush("refs/heads/main", sha1), ghURL, "ext::sh -c touch% /tmp/pwned", 1))},
			strings.Replace(githubPush("refs/heads/main", sha1), ghURL, "ext::sh -c touch% /tmp/pwned", 1), 400, nil},
		{"github unknown app", "/hooks/github/nope",
			map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": sign(secret, githubPush("refs/heads/main", sha1))},
			githubPush("refs/heads/main", sha1), 404, nil},
		{"github app without a secret", "/hooks/github/y",
			map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": sign("", githubPush("refs/heads/main", sha1))},
			githubPush("refs/heads/main", sha1), 404, nil},
		{"github too large", "/hooks/github/x",
			map[string]string{"X-GitHub-Event": "push"}, strings.Repeat(" ", maxWebhookBody+1), 413, nil},

		{"gitlab push", "/hooks/gitlab/x",
			map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": secret},
			gitlabPush("refs/heads/main", sha1, glURL), 202,
			&service.Source{GitURL: glURL, Ref: "refs/heads/main", Commit: sha1, Trigger: service.TriggerWebhook}},
		{"gitlab wrong token", "/hooks/gitlab/x",
			map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "x-secre"},
			gitlabPush("refs/heads/main", sha1, glURL), 401, nil},
		{"gitlab missing token", "/hooks/gitlab/x",
			map[string]string{"X-Gitlab-Event": "Push Hook"}, gitlabPush("refs/heads/main", sha1, glURL), 401, nil},
		{"gitlab deletion", "/hooks/gitlab/x",
			map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": secret},
			gitlabPush("refs/heads/main", zeros, glURL), 200, nil},
		{"gitlab tag push", "/hooks/gitlab/x",
			map[string]string{"X-Gitlab-Event": "Tag Push Hook", "X-Gitlab-Token": secret},
			gitlabPush("refs/tags/v1", sha1, glURL), 200, nil},
		{"gitlab malformed", "/hooks/gitlab/x",
			map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": secret}, `[1,2`, 400, nil},
		{"gitlab missing URL", "/hooks/gitlab/x",
			map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": secret},
			gitlabPush("refs/heads/main", sha1, ""), 400, nil},

		{"clone URL the service refuses (a private address)", "/hooks/gitlab/x",
			map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": secret},
			gitlabPush("refs/heads/main", sha1, "http://127.0.0.1:8080/git/x.git"), 400, nil},

		{"unknown host", "/hooks/bitbucket/x", nil, `{}`, 404, nil},
		{"host not first", "/hooks/any/github/x",
			map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": sign(secret, githubPush("refs/heads/main", sha1))},
			githubPush("refs/heads/main", sha1), 404, nil},
		{"more after the app", "/hooks/github/x/y",
			map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": sign(secret, githubPush("refs/heads/main", sha1))},
			githubPush("refs/heads/main", sha1), 404, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFake()
			h := http.NewServeMux()
			h.Handle("/hooks/", New(fake))
			req := httptest.NewRequest("POST", tc.path, strings.NewReader(tc.body))
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Errorf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
			calls := fake.calls()
			switch {
			case tc.queued == nil && len(calls) != 0:
				t.Errorf("queued %+v", calls)
			case tc.queued != nil && len(calls) != 1:
				t.Errorf("%d builds queued, want 1", len(calls))
			case tc.queued != nil:
				if d := cmp.Diff(*tc.queued, calls[0].src); d != "" || calls[0].app != "x" {
					t.Errorf("app %s, source (-want +got):\n%s", calls[0].app, d)
				}
				var b service.Build
				if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || b.ID != 1 {
					t.Errorf("answer %s: %v", rec.Body, err)
				}
			}
		})
	}
}

// FuzzWebhook: whatever a signed payload holds, the handler answers
// without panicking and queues only a branch at a commit from an http(s)
// URL.
func FuzzWebhook(f *testing.F) {
	f.Add(githubPush("refs/heads/main", sha1), true)
	f.Add(gitlabPush("refs/heads/main", sha1, glURL), false)
	f.Add(`{"ref":"refs/heads/a","after":"`+sha1+`","repository":{"clone_url":"http://[::1"}}`, true)
	f.Fuzz(func(t *testing.T, body string, github bool) {
		fake := newFake()
		req := httptest.NewRequest("POST", "/hooks/gitlab/x", strings.NewReader(body))
		req.Header.Set("X-Gitlab-Event", "Push Hook")
		req.Header.Set("X-Gitlab-Token", secret)
		if github {
			req = httptest.NewRequest("POST", "/hooks/github/x", strings.NewReader(body))
			req.Header.Set("X-GitHub-Event", "push")
			req.Header.Set("X-Hub-Signature-256", sign(secret, body))
		}
		rec := httptest.NewRecorder()
		New(fake).ServeHTTP(rec, req)
		for _, c := range fake.calls() {
			u, err := url.Parse(c.src.GitURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !strings.HasPrefix(c.src.Ref, "refs/heads/") || !gitref.IsObjectName(c.src.Commit) {
				t.Errorf("queued %+v", c.src)
			}
		}
	})
}

// fakeBuilds is service.Builds with the apps x and y (x has a webhook
// secret) that records the builds started.
type fakeBuilds struct {
	mu      sync.Mutex
	secrets map[string]string
	starts  []startCall
}

type startCall struct {
	app string
	src service.Source
}

var _ service.Builds = (*fakeBuilds)(nil)

func newFake() *fakeBuilds { return &fakeBuilds{secrets: map[string]string{"x": secret}} }

func (f *fakeBuilds) Authorize(context.Context, string, string) (bool, error) {
	return false, service.ErrUnauthorized
}

func (f *fakeBuilds) EnsureApp(context.Context, string) error { return errors.New("not used") }

func (f *fakeBuilds) Start(_ context.Context, app string, src service.Source) (service.Build, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if app != "x" && app != "y" {
		return service.Build{}, service.ErrNotFound
	}
	if strings.Contains(src.GitURL, "127.0.0.1") {
		return service.Build{}, fmt.Errorf("git URL: 127.0.0.1 %w", service.ErrInvalid)
	}
	f.starts = append(f.starts, startCall{app, src})
	return service.Build{ID: int64(len(f.starts)), App: app, Status: service.StatusQueued, Trigger: src.Trigger}, nil
}

func (f *fakeBuilds) WebhookSecret(_ context.Context, app string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.secrets[app]
	if !ok {
		return "", service.ErrNotFound
	}
	return s, nil
}

func (f *fakeBuilds) Follow(context.Context, int64, int64, io.Writer) (service.Build, error) {
	return service.Build{}, errors.New("not used")
}

func (f *fakeBuilds) calls() []startCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]startCall(nil), f.starts...)
}
