package work

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"

	"github.com/kiln-build/kiln/internal/service/store"
)

// buildArgs are a River job's arguments: the build it runs.
type buildArgs struct {
	BuildID int64 `json:"build_id"`
}

// Kind is the River job kind.
func (buildArgs) Kind() string { return "kiln_build" }

// RiverQueue is the River client, whichever driver it has.
type RiverQueue interface {
	Queue
	// Cancel cancels job in tx (nothing when it is gone or done).
	Cancel(ctx context.Context, tx *store.Tx, job int64) error
	// Start starts working jobs (when the queue has workers).
	Start(ctx context.Context) error
	// Stop stops fetching jobs and cancels the running ones' contexts:
	// their builds are stopped and re-queued (see Worker.Work).
	Stop(ctx context.Context) error
}

// buildWorker is River's worker for builds.
type buildWorker struct {
	river.WorkerDefaults[buildArgs]
	w *Worker
}

func (w *buildWorker) Work(ctx context.Context, job *river.Job[buildArgs]) error {
	return w.w.Work(ctx, job.ID, job.Args.BuildID)
}

// Builds have a timeout of their own (kiln build --timeout); a lost
// worker's build is the reaper's: River neither times them out nor
// rescues them before a day has passed (and then the job finds its build
// taken care of).
func (w *buildWorker) Timeout(*river.Job[buildArgs]) time.Duration { return -1 }

// NewQueue returns the River client on db that runs up to concurrency builds
// at once through w (none: it only inserts and cancels jobs), and makes it
// the queue w re-queues builds through.
func NewQueue(db *store.DB, w *Worker, concurrency int, logger *slog.Logger) (RiverQueue, error) {
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &buildWorker{w: w}); err != nil {
		return nil, err
	}
	cfg := &river.Config{
		Workers:              workers,
		JobTimeout:           -1,
		RescueStuckJobsAfter: 24 * time.Hour,
		FetchPollInterval:    100 * time.Millisecond, // PostgreSQL's LISTEN wakes a worker sooner
		Logger:               logger,
		MaxAttempts:          5,
	}
	if concurrency > 0 {
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: concurrency}}
	}
	if db.Dialect() == store.Postgres {
		c, err := river.NewClient(riverpgxv5.New(db.Pool), cfg)
		if err != nil {
			return nil, err
		}
		q := &riverQueue[pgx.Tx]{c: c, tx: func(tx *store.Tx) pgx.Tx { return tx.PgxTx }, run: concurrency > 0}
		w.queue = q
		return q, nil
	}
	// SQLite has no LISTEN/NOTIFY: River polls, often enough that a
	// queued build waits at most 25 ms (a cheap indexed query on a local
	// file).
	cfg.PollOnly = true
	cfg.FetchPollInterval, cfg.FetchCooldown = 25*time.Millisecond, 25*time.Millisecond
	c, err := river.NewClient(riversqlite.New(db.SQL), cfg)
	if err != nil {
		return nil, err
	}
	q := &riverQueue[*sql.Tx]{c: c, tx: func(tx *store.Tx) *sql.Tx { return tx.SQLTx }, run: concurrency > 0}
	w.queue = q
	return q, nil
}

type riverQueue[TTx any] struct {
	c   *river.Client[TTx]
	tx  func(*store.Tx) TTx
	run bool // the client works jobs (else it only inserts)
}

func (q *riverQueue[TTx]) Insert(ctx context.Context, tx *store.Tx, build int64) (int64, error) {
	res, err := q.c.InsertTx(ctx, q.tx(tx), buildArgs{BuildID: build}, nil)
	if err != nil {
		return 0, err
	}
	return res.Job.ID, nil
}

func (q *riverQueue[TTx]) Cancel(ctx context.Context, tx *store.Tx, job int64) error {
	if job == 0 {
		return nil
	}
	_, err := q.c.JobCancelTx(ctx, q.tx(tx), job)
	if err != nil && !errors.Is(err, rivertype.ErrNotFound) {
		return fmt.Errorf("cancelling job %d: %w", job, err)
	}
	return nil
}

func (q *riverQueue[TTx]) Start(ctx context.Context) error {
	if !q.run {
		return nil
	}
	return q.c.Start(ctx)
}

func (q *riverQueue[TTx]) Stop(ctx context.Context) error {
	if !q.run {
		return nil
	}
	return q.c.StopAndCancel(ctx)
}
