package service

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
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

// Options configure a Service.
type Options struct {
	// RegistryPrefix is where apps' images go: PREFIX/APP:latest.
	RegistryPrefix string
	// AdminToken is the admin token (kept as its hash only).
	AdminToken string
	// Workers is how many builds this process runs at once; 0 runs none
	// (an API-only process).
	Workers int
	// MaxSourceSize bounds an uploaded source tarball; zero means 200 MiB.
	MaxSourceSize int64
	// BuildTimeout stops a build that runs longer; zero means none.
	BuildTimeout time.Duration
	// Builder runs builds; nil means runner.Kiln with the running binary.
	Builder Builder
	// Heartbeat is how often a worker records that its build is alive
	// (and looks for a cancel request); zero means 5 s.
	Heartbeat time.Duration
	// StaleAfter is how old a running build's last heartbeat may get
	// before the reaper takes it from its lost worker; zero means 30 s.
	StaleAfter time.Duration
	// MaxAttempts is how often a build whose worker was lost is run in
	// all; zero means 2.
	MaxAttempts int
	// Snooze is how long a job waits when its app's lease is taken;
	// zero means 2 s.
	Snooze time.Duration
	// LogFlush is how often a running build's log is written out; zero
	// means 200 ms (or at 16 KiB).
	LogFlush time.Duration
	// Poll is how often Follow looks for more log; zero means 250 ms.
	Poll time.Duration
	// WorkerName names this process in builds it runs; "" means host:pid.
	WorkerName string
	// Logger gets the service's own messages; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.MaxSourceSize == 0 {
		o.MaxSourceSize = 200 << 20
	}
	if o.Heartbeat == 0 {
		o.Heartbeat = 5 * time.Second
	}
	if o.StaleAfter == 0 {
		o.StaleAfter = 30 * time.Second
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 2
	}
	if o.Snooze == 0 {
		o.Snooze = 2 * time.Second
	}
	if o.LogFlush == 0 {
		o.LogFlush = 200 * time.Millisecond
	}
	if o.Poll == 0 {
		o.Poll = 250 * time.Millisecond
	}
	if o.WorkerName == "" {
		host, _ := os.Hostname()
		o.WorkerName = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Service is kiln serve's core: apps, tokens, builds and their logs on a
// database, and the workers that run builds through River.
type Service struct {
	db        *store.DB
	o         Options
	adminHash [32]byte
	queue     queue
	snoozes   atomic.Int64 // jobs snoozed because their app was busy

	mu       sync.Mutex
	stopping bool // the process is shutting down: interrupted builds are re-queued
	stop     context.CancelFunc
	done     chan struct{}
}

var _ Builds = (*Service)(nil)

// New returns a Service on db (migrated). Start runs its workers and
// reaper.
func New(db *store.DB, o Options) (*Service, error) {
	o.defaults()
	if o.Builder == nil {
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("finding the kiln binary: %w", err)
		}
		o.Builder = runner.Kiln{Binary: self}
	}
	s := &Service{db: db, o: o, adminHash: sha256.Sum256([]byte(o.AdminToken))}
	q, err := newQueue(db, s)
	if err != nil {
		return nil, err
	}
	s.queue = q
	return s, nil
}

// Options returns the service's options, defaults filled in.
func (s *Service) Options() Options { return s.o }

// StartWorkers starts the workers (when Options.Workers > 0) and the
// reaper, which runs in every process.
func (s *Service) StartWorkers(ctx context.Context) error {
	if err := s.queue.start(ctx); err != nil {
		return fmt.Errorf("starting the job queue: %w", err)
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.stop, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		s.reapLoop(rctx)
	}()
	return nil
}

// Shutdown stops taking jobs and stops the running builds cleanly (SIGINT to
// kiln build), re-queueing them for another worker or the next start; it
// returns when they are, or when ctx ends.
func (s *Service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	err := s.queue.stop(ctx)
	if s.stop != nil {
		s.stop()
		<-s.done
	}
	return err
}

func (s *Service) now() int64 { return s.o.Now().UnixMilli() }

// notFound maps store.ErrNoRows to ErrNotFound with what was looked for.
func notFound(err error, what string) error {
	if errors.Is(err, store.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return err
}
