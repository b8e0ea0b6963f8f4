package service

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/kiln-build/kiln/internal/service/runner"
	"github.com/kiln-build/kiln/internal/service/store"
	"github.com/kiln-build/kiln/internal/service/work"
)

// This file is the contract between the build service's core (this
// package) and what feeds it builds from outside: git pushes and webhooks
// (package gitserve). Keep it stable; extend it, do not change it.

// Trigger says what started a build.
type Trigger string

// The triggers.
const (
	TriggerPush    Trigger = "push"             // git push to /git/APP.git
	TriggerWebhook Trigger = "webhook"          // a GitHub or GitLab push event
	TriggerAPI     Trigger = "api"              // POST /api/apps/APP/builds
	TriggerRebase  Trigger = work.TriggerRebase // the app's run image moved (CheckRunImages)
	TriggerBuilder Trigger = "builder"          // the app's builder changed: its last source again (CheckRunImages)
)

// Source is what a build builds: an uploaded tar of the source tree, or a
// commit of a git repository the worker clones (shallow).
type Source struct {
	// Tarball, when not nil, is a tar stream (optionally gzip-compressed)
	// of the source tree; Start reads it to the end before it returns.
	Tarball io.Reader
	// GitURL, Ref and Commit name a commit to clone when Tarball is nil.
	// Commit may be empty (the ref's head then). With a Tarball, Ref and
	// Commit say where it came from (recorded, not fetched). Credentials
	// in GitURL's userinfo are used for the clone only: the build's
	// record and log hold the URL without them. Unless kiln serve allows
	// private git hosts, a GitURL whose host is or resolves to a
	// loopback, link-local or private address is ErrInvalid.
	GitURL, Ref, Commit string
	// Trigger says what started the build.
	Trigger Trigger
}

// Status is where a build is.
type Status string

// The statuses; the last four are final.
const (
	StatusQueued     Status = store.StatusQueued
	StatusRunning    Status = store.StatusRunning
	StatusSucceeded  Status = store.StatusSucceeded
	StatusFailed     Status = store.StatusFailed
	StatusCanceled   Status = store.StatusCanceled
	StatusSuperseded Status = store.StatusSuperseded // a newer push to its app came while it was queued
)

// Final says whether s is an end state.
func (s Status) Final() bool {
	return s == StatusSucceeded || s == StatusFailed || s == StatusCanceled || s == StatusSuperseded
}

// PhaseTiming is one phase of a build (analyze, detect, build, export...)
// as kiln build's report gives it.
type PhaseTiming = runner.Phase

// Build is one build as the service records it.
type Build struct {
	ID      int64   `json:"id"`
	App     string  `json:"app"`
	Status  Status  `json:"status"`
	Trigger Trigger `json:"trigger"`
	Ref     string  `json:"ref,omitempty"`
	Commit  string  `json:"commit,omitempty"`
	// Image is the published reference (repo:tag) and Digest its digest,
	// set on success only.
	Image  string `json:"image,omitempty"`
	Digest string `json:"digest,omitempty"`
	// Phase, ExitCode and Reason say why a build failed: the failing
	// phase, kiln's exit code for it, and the message.
	Phase    string        `json:"phase,omitempty"`
	ExitCode int           `json:"exit_code"`
	Reason   string        `json:"reason,omitempty"`
	Phases   []PhaseTiming `json:"phases,omitempty"`
	Created  time.Time     `json:"created"`
	Started  *time.Time    `json:"started,omitempty"`
	Finished *time.Time    `json:"finished,omitempty"`
	// LogSize is the number of log bytes recorded so far.
	LogSize int64 `json:"log_size"`
	// Attempt counts the runs of the build (a build whose worker was
	// lost runs again), and Worker names the process running or last
	// running it (host:pid).
	Attempt int    `json:"attempt,omitempty"`
	Worker  string `json:"worker,omitempty"`
}

// Errors the contract's methods return (wrapped).
var (
	ErrUnauthorized = errors.New("unauthorized")  // bad or missing token: HTTP 401
	ErrNotFound     = errors.New("not found")     // unknown app or build: HTTP 404
	ErrInvalid      = errors.New("invalid input") // bad name, payload, source: HTTP 400
	ErrTooLarge     = errors.New("too large")     // source above the size limit: HTTP 413
)

// Builds is what git pushes and webhooks need from the service.
type Builds interface {
	// Authorize checks token for app: the admin token or one of the
	// app's deploy tokens (constant-time comparison against stored
	// hashes). It reports whether token is the admin token. An unknown
	// app with a deploy token is ErrNotFound; a bad token ErrUnauthorized.
	Authorize(ctx context.Context, app, token string) (admin bool, err error)
	// EnsureApp creates app when it does not exist yet, with image
	// REGISTRY_PREFIX/APP and the default builder (what a git push with
	// the admin token to a new app does, as Dokku does); it does nothing
	// for an existing app. A name that is not a valid app name
	// (lower-case letters, digits and '-', 1-63 characters, starting
	// with a letter) is ErrInvalid.
	EnsureApp(ctx context.Context, app string) error
	// Start records and queues a build of src for app; a newer Start for
	// the same app supersedes the app's builds still queued. It returns
	// once the build is durably queued.
	Start(ctx context.Context, app string, src Source) (Build, error)
	// WebhookSecret is app's secret for webhooks from its git host (the
	// HMAC key of GitHub's X-Hub-Signature-256, the value of GitLab's
	// X-Gitlab-Token); ErrNotFound for an unknown app or one without a
	// secret (then no webhook is accepted for it).
	WebhookSecret(ctx context.Context, app string) (string, error)
	// Follow writes the build's log to w from byte offset on, as it
	// grows, until the build ends (or ctx does), and returns the build as
	// it ended. It works from any process sharing the database.
	Follow(ctx context.Context, id int64, offset int64, w io.Writer) (Build, error)
}
