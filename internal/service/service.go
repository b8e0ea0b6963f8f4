package service

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/kiln-build/kiln/internal/service/runner"
	"github.com/kiln-build/kiln/internal/service/store"
	"github.com/kiln-build/kiln/internal/service/work"
)

// Builder runs one build; runner.Kiln (a `kiln build` subprocess) is the
// real one. A build that ran and failed is a Report with a non-zero exit
// code; an error means it could not be run.
type Builder = work.Builder

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
	// MaxLogSize bounds what a build's log keeps of its output (a
	// build's code is untrusted: it must not fill the database); zero
	// means 64 MiB.
	MaxLogSize int64
	// Poll is how often Follow looks for more log; zero means 100 ms.
	Poll time.Duration
	// WorkerName names this process in builds it runs; "" means host:pid.
	WorkerName string
	// ReposDir is where this process keeps the apps' git repositories
	// (APP.git, package gitserve's); DeleteApp removes the app's. ""
	// means none.
	ReposDir string
	// AllowPrivateGit lets builds from git URLs (API, webhooks) clone
	// from loopback, link-local and private addresses; by default a URL
	// whose host is or resolves to one is refused, and the clone
	// connects to the address checked.
	AllowPrivateGit bool
	// SignKey names the cosign private key file each app's images are
	// signed and attested with (SLSA provenance and SBOM), given the app's
	// name and the key name its settings hold (signing_key); nil or ""
	// means its images are not signed.
	SignKey func(app, keyName string) string
	// WatchRunImages, when above zero, is how often every process checks
	// the apps' run images and rebases the apps whose run image moved
	// (CheckRunImages); zero checks only when asked (POST /api/rebase).
	WatchRunImages time.Duration
	// Resolver looks git hosts up; nil means net.DefaultResolver.
	Resolver runner.Resolver
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
	if o.MaxLogSize == 0 {
		o.MaxLogSize = 64 << 20
	}
	if o.Poll == 0 {
		o.Poll = 100 * time.Millisecond
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
	queue     work.RiverQueue
	w         *work.Worker
	wake      wakeup

	stop context.CancelFunc
	done chan struct{}
}

var _ Builds = (*Service)(nil)

// New returns a Service on db (migrated). StartWorkers runs its workers and
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
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	s := &Service{db: db, o: o, adminHash: sha256.Sum256([]byte(o.AdminToken))}
	s.w = work.New(work.Config{
		DB: db, Builder: o.Builder, RegistryPrefix: o.RegistryPrefix, BuildTimeout: o.BuildTimeout,
		Heartbeat: o.Heartbeat, StaleAfter: o.StaleAfter, MaxAttempts: o.MaxAttempts, Snooze: o.Snooze,
		LogFlush: o.LogFlush, MaxLogSize: o.MaxLogSize, AllowPrivateGit: o.AllowPrivateGit, Resolver: o.Resolver,
		WorkerName: o.WorkerName, Logger: o.Logger, Now: o.Now, SignKey: o.SignKey,
		Changed: s.wake.notify,
	})
	q, err := work.NewQueue(db, s.w, o.Workers, o.Logger)
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
	if err := s.queue.Start(ctx); err != nil {
		return fmt.Errorf("starting the job queue: %w", err)
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.stop, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		var wg sync.WaitGroup
		if s.o.WatchRunImages > 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.watchRunImages(rctx, s.o.WatchRunImages)
			}()
		}
		s.w.ReapLoop(rctx)
		wg.Wait()
	}()
	return nil
}

// Shutdown stops taking jobs and stops the running builds cleanly (SIGINT to
// kiln build), re-queueing them for another worker or the next start; it
// returns when they are, or when ctx ends.
func (s *Service) Shutdown(ctx context.Context) error {
	err := s.queue.Stop(ctx)
	if s.stop != nil {
		s.stop()
		<-s.done
	}
	return err
}

func (s *Service) now() int64 { return s.o.Now().UnixMilli() }

// Reap takes the running builds whose worker has not been heard of for
// StaleAfter from it: one with a newer build of its app is superseded;
// else it is re-queued as its next attempt, or, past MaxAttempts, fails
// with the reason "worker lost". Any process may reap (every process
// does, every few seconds).
func (s *Service) Reap(ctx context.Context) error { return s.w.Reap(ctx) }

// notFound maps store.ErrNoRows to ErrNotFound with what was looked for.
func notFound(err error, what string) error {
	if errors.Is(err, store.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return err
}
