package work

import (
	"context"
	"fmt"
	"time"

	"github.com/kiln-build/kiln/internal/service/store"
)

// ReapLoop reaps lost workers' builds until ctx ends.
func (s *Worker) ReapLoop(ctx context.Context) {
	every := min(5*time.Second, s.o.StaleAfter/3)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := s.Reap(ctx); err != nil && ctx.Err() == nil {
			s.o.Logger.Warn("reaping lost builds", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Reap takes the running builds whose worker has not been heard of for
// StaleAfter from it: one with a newer build of its app is superseded;
// else it is re-queued as its next attempt, or, past MaxAttempts, fails
// with the reason "worker lost". Any process may reap: each build is
// taken in a transaction that checks it is still stale.
func (s *Worker) Reap(ctx context.Context) error {
	cutoff := s.now() - s.o.StaleAfter.Milliseconds()
	stale, err := s.db.StaleBuilds(ctx, cutoff)
	if err != nil {
		return err
	}
	for _, b := range stale {
		if err := s.reapOne(ctx, b, cutoff); err != nil {
			return err
		}
	}
	return nil
}

func (s *Worker) reapOne(ctx context.Context, b store.Build, cutoff int64) error {
	return ignoreGone(s.reapTx(ctx, b, cutoff))
}

func (s *Worker) reapTx(ctx context.Context, b store.Build, cutoff int64) error {
	lost := fmt.Sprintf("kiln serve: the worker running attempt %d (%s) was lost: no heartbeat for %s", b.Attempt, b.Worker, s.o.StaleAfter)
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		cur, err := tx.GetBuild(ctx, b.ID)
		if err != nil || cur.Status != store.StatusRunning || cur.RunID != b.RunID || cur.Heartbeat >= cutoff {
			return nil
		}
		newer, err := tx.HasNewer(ctx, b.App, b.ID)
		if err != nil {
			return err
		}
		if !newer && b.Attempt < s.o.MaxAttempts {
			return s.requeueTx(ctx, tx, b, b.Attempt+1, lost)
		}
		f := store.Final{Status: store.StatusFailed, Reason: "worker lost", Finished: s.now()}
		line := lost + "; the build failed"
		if newer {
			f.Status, f.Reason = store.StatusSuperseded, "worker lost, and a newer build of the app was started"
			line = lost + "; a newer build of the app supersedes it"
		}
		if _, err := tx.AppendLog(ctx, b.ID, []byte(line+"\n")); err != nil {
			return err
		}
		if _, err := tx.Finish(ctx, b.ID, b.RunID, f); err != nil {
			return err
		}
		if err := tx.ReleaseLease(ctx, b.App, b.ID); err != nil {
			return err
		}
		return tx.DeleteSource(ctx, b.ID)
	})
}

// requeue puts running build b back in the queue as attempt, with a new
// job, releasing its app's lease; why, when given, is logged.
func (s *Worker) requeue(ctx context.Context, b store.Build, attempt int, why string) error {
	return s.db.Tx(ctx, func(tx *store.Tx) error { return s.requeueTx(ctx, tx, b, attempt, why) })
}

func (s *Worker) requeueTx(ctx context.Context, tx *store.Tx, b store.Build, attempt int, why string) error {
	if why != "" {
		why = fmt.Sprintf("%s; re-queued as attempt %d of %d\n", why, attempt, s.o.MaxAttempts)
		if _, err := tx.AppendLog(ctx, b.ID, []byte(why)); err != nil {
			return err
		}
	}
	job, err := s.queue.Insert(ctx, tx, b.ID)
	if err != nil {
		return err
	}
	ok, err := tx.Requeue(ctx, b.ID, b.RunID, attempt, job)
	if err != nil {
		return err
	}
	if !ok {
		return errGone
	}
	return tx.ReleaseLease(ctx, b.App, b.ID)
}
