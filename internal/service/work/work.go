package work

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/kiln-build/kiln/internal/service/runner"
	"github.com/kiln-build/kiln/internal/service/store"
)

// Builder runs one build; runner.Kiln (a `kiln build` subprocess) is the
// real one. A build that ran and failed is a Report with a non-zero exit
// code; an error means it could not be run.
type Builder interface {
	Build(ctx context.Context, spec runner.Spec, log io.Writer) (runner.Report, error)
}

var _ Builder = runner.Kiln{}

// Queue is what the worker needs of the job queue: a new job for a build
// it puts back, in the transaction that does.
type Queue interface {
	Insert(ctx context.Context, tx *store.Tx, build int64) (job int64, err error)
}

// Config configures a Worker; every field is required (package service
// fills in its defaults).
type Config struct {
	DB      *store.DB
	Builder Builder
	// RegistryPrefix is where apps' images go (and the default builder's
	// run image, under PREFIX/kiln/run).
	RegistryPrefix string
	// BuildTimeout stops a build that runs longer; zero means none.
	BuildTimeout time.Duration
	// Heartbeat, StaleAfter, MaxAttempts, Snooze, LogFlush and
	// MaxLogSize are service.Options' fields of the same names.
	Heartbeat, StaleAfter time.Duration
	MaxAttempts           int
	Snooze, LogFlush      time.Duration
	MaxLogSize            int64
	// AllowPrivateGit lets a build clone from loopback, link-local and
	// private addresses.
	AllowPrivateGit bool
	// Changed, when set, is told (by build id) that a build's log grew or
	// the build ended, so followers in this process need not wait for
	// their next poll.
	Changed func(build int64)
	// SignKey names the cosign key file an app's images are signed and
	// attested with, given the app's name and the key name its settings
	// hold ("" or nil: not signed).
	SignKey func(app, keyName string) string
	// Resolver looks git hosts up; nil means net.DefaultResolver.
	Resolver   runner.Resolver
	WorkerName string
	Logger     *slog.Logger
	Now        func() time.Time
}

// Worker runs builds (Work) and reaps lost ones (Reap).
type Worker struct {
	o       Config
	db      *store.DB
	queue   Queue
	snoozes atomic.Int64 // jobs snoozed because their app was busy
}

// New returns a Worker; NewQueue gives it the queue it re-queues builds
// through.
func New(c Config) *Worker {
	if c.Resolver == nil {
		c.Resolver = net.DefaultResolver
	}
	return &Worker{o: c, db: c.DB}
}

// Snoozes is how many jobs were snoozed because their app's lease was
// taken.
func (s *Worker) Snoozes() int64 { return s.snoozes.Load() }

func (s *Worker) now() int64 { return s.o.Now().UnixMilli() }

// CacheImage is the app's cache image: its own, or Image:cache.
func CacheImage(a store.App) string {
	if a.CacheImage != "" {
		return a.CacheImage
	}
	return a.Image + ":cache"
}

// ImageRef is where an app's builds are published.
func ImageRef(a store.App) string { return a.Image + ":latest" }

// newRunID is a random id of one run of a build.
func newRunID() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}
