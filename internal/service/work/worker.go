package work

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/kiln-build/kiln/internal/service/runner"
	"github.com/kiln-build/kiln/internal/service/store"
	"github.com/kiln-build/kiln/internal/workdir"
)

var (
	errBusy     = errors.New("the app's lease is taken")
	errGone     = errors.New("the build is no longer this worker's")
	errCanceled = errors.New("canceled")
	errLost     = errors.New("the build was taken from this worker")
)

// Work runs the build of a River job: it takes the app's lease (else the
// job is snoozed), marks the build running, runs it with a heartbeat and
// records how it ended. A job whose build is no longer queued for it
// (superseded, canceled, re-queued under another job, deleted) does
// nothing.
func (s *Worker) Work(ctx context.Context, job, id int64) error {
	b, err := s.db.GetBuild(ctx, id)
	if errors.Is(err, store.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	if b.Status != store.StatusQueued || b.JobID != job {
		return nil
	}
	app, err := s.db.GetApp(ctx, b.App)
	if errors.Is(err, store.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	runID := newRunID()
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		now := s.now()
		ok, err := tx.AcquireLease(ctx, b.App, id, now, now+s.o.StaleAfter.Milliseconds())
		if err != nil {
			return err
		}
		if !ok {
			return errBusy
		}
		if ok, err = tx.MarkRunning(ctx, id, job, runID, s.o.WorkerName, now); err != nil {
			return err
		}
		if !ok {
			return errGone
		}
		return nil
	})
	switch {
	case errors.Is(err, errBusy):
		s.snoozes.Add(1)
		return river.JobSnooze(s.o.Snooze)
	case errors.Is(err, errGone):
		return nil
	case err != nil:
		return err
	}
	b.RunID, b.Status = runID, store.StatusRunning
	return s.execute(ctx, b, app)
}

// execute runs build b (marked running under b.RunID) and records how it
// ended.
func (s *Worker) execute(ctx context.Context, b store.Build, app store.App) error {
	log := newLogWriter(s, b.ID, b.LogSize)
	log.Note("kiln serve: build %d of %s, attempt %d, on %s", b.ID, b.App, b.Attempt, s.o.WorkerName)
	bctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		s.heartbeat(bctx, b, stop)
	}()
	rep, err := s.buildIn(bctx, b, app, log)
	stop(nil)
	<-hbDone
	cause := context.Cause(bctx)
	fctx := context.WithoutCancel(ctx)
	succeeded := err == nil && rep.ExitCode == 0
	switch {
	case errors.Is(cause, errLost):
		log.Close() // its log is the reaper's to end
		return nil
	case ctx.Err() != nil && !succeeded:
		// River stopped the job: this process shuts down.
		log.Note("kiln serve: %s is stopping; the build is re-queued", s.o.WorkerName)
		log.Close()
		return ignoreGone(s.requeue(fctx, b, b.Attempt, ""))
	}
	f := outcome(rep, err, errors.Is(cause, errCanceled) && !succeeded)
	if f.Status == store.StatusSucceeded {
		f.Image = ImageRef(app)
	}
	log.Note("%s", finalLine(f))
	log.Close()
	f.Finished = s.now()
	defer s.changed(b.ID)
	return ignoreGone(s.db.Tx(fctx, func(tx *store.Tx) error {
		ok, err := tx.Finish(fctx, b.ID, b.RunID, f)
		if err != nil || !ok {
			if err == nil {
				err = errGone
			}
			return err
		}
		if err := tx.ReleaseLease(fctx, b.App, b.ID); err != nil {
			return err
		}
		if f.Status == store.StatusSucceeded && app.RebuildOnBuilderChange && b.Trigger != TriggerRebase {
			if err := tx.KeepAppSource(fctx, b); err != nil {
				return err
			}
		}
		return tx.DeleteSource(fctx, b.ID)
	}))
}

// ignoreGone is err, except errGone (the build was taken care of by
// another: nothing to do).
func ignoreGone(err error) error {
	if errors.Is(err, errGone) {
		return nil
	}
	return err
}

// outcome is how a build that returned rep and err ended.
func outcome(rep runner.Report, err error, canceled bool) store.Final {
	phases, _ := json.Marshal(rep.Phases)
	f := store.Final{Phases: string(phases), Phase: rep.Phase, ExitCode: rep.ExitCode, Reason: rep.Message}
	switch {
	case canceled:
		f.Status = store.StatusCanceled
		f.Reason = "canceled"
	case err != nil:
		f.Status, f.Reason = store.StatusFailed, err.Error()
		if f.ExitCode == 0 {
			f.ExitCode = 1
		}
	case rep.ExitCode == 0:
		f.Status, f.Digest, f.Phase, f.Reason = store.StatusSucceeded, rep.Digest, "", ""
	default:
		f.Status = store.StatusFailed
		if f.Reason == "" {
			f.Reason = fmt.Sprintf("kiln build exited %d", rep.ExitCode)
		}
	}
	return f
}

func finalLine(f store.Final) string {
	switch f.Status {
	case store.StatusSucceeded:
		return fmt.Sprintf("kiln serve: build succeeded: %s@%s", f.Image, f.Digest)
	case store.StatusCanceled:
		return "kiln serve: build canceled"
	}
	where := ""
	if f.Phase != "" {
		where = " in phase " + f.Phase
	}
	return fmt.Sprintf("kiln serve: build failed%s (exit code %d): %s", where, f.ExitCode, f.Reason)
}

// runImageRepo is where builds publish a run image that is only local
// (that of kiln's default builder): beside the apps, under a path no app
// name can take.
func (s *Worker) runImageRepo() string {
	if s.o.RegistryPrefix == "" {
		return ""
	}
	return strings.TrimSuffix(s.o.RegistryPrefix, "/") + "/kiln/run"
}

// buildIn lays out b's source in a temporary dir and builds it there.
func (s *Worker) buildIn(ctx context.Context, b store.Build, app store.App, log *logWriter) (runner.Report, error) {
	if b.Trigger == TriggerRebase {
		// no source: kiln rebase moves the app's image onto the newest
		// digest of the run image it records
		return s.o.Builder.Build(ctx, runner.Spec{Image: ImageRef(app), Rebase: true, SignKey: s.signKey(app), Timeout: s.o.BuildTimeout}, log)
	}
	tmp, err := os.MkdirTemp("", "kiln-serve-src-")
	if err != nil {
		return runner.Report{}, err
	}
	// The tree is the uploader's: it may hold directories without write
	// or search permission, which os.RemoveAll cannot empty unless root.
	defer func() {
		if err := workdir.RemoveAll(tmp); err != nil {
			s.o.Logger.Warn("removing a build's source", "build", b.ID, "err", err)
		}
	}()
	dir := filepath.Join(tmp, "src")
	if b.GitURL != "" {
		rep, err := s.clone(ctx, b, dir, log)
		if err != nil || rep.ExitCode != 0 {
			return rep, err
		}
	} else {
		data, err := s.db.GetSource(ctx, b.ID)
		if err != nil {
			return runner.Report{}, fmt.Errorf("reading the source: %w", err)
		}
		if err := runner.Extract(ctx, data, dir); err != nil {
			return runner.Report{Phase: "source", ExitCode: 1, Message: err.Error()}, nil
		}
	}
	return s.o.Builder.Build(ctx, runner.Spec{
		Dir: dir, Image: ImageRef(app), CacheImage: CacheImage(app), Builder: app.Builder,
		RunImageRepo: s.runImageRepo(), Env: app.Env, Timeout: s.o.BuildTimeout,
		SignKey: s.signKey(app),
	}, log)
}

// heartbeat keeps b's heartbeat and app lease fresh every Heartbeat
// interval and looks for a cancel request every second (or sooner), until
// ctx ends; it stops the build (stop) when it is canceled or no longer
// this worker's.
func (s *Worker) heartbeat(ctx context.Context, b store.Build, stop context.CancelCauseFunc) {
	tick := min(time.Second, s.o.Heartbeat)
	t := time.NewTicker(tick)
	defer t.Stop()
	last := s.o.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var alive, cancel bool
		var err error
		if now := s.o.Now(); now.Sub(last) >= s.o.Heartbeat {
			alive, cancel, err = s.db.Heartbeat(ctx, b.ID, b.RunID, now.UnixMilli())
			if err == nil && alive {
				_, err = s.db.RenewLease(ctx, b.App, b.ID, now.UnixMilli()+s.o.StaleAfter.Milliseconds())
				last = now
			}
		} else {
			alive, cancel, err = s.db.RunState(ctx, b.ID, b.RunID)
		}
		switch {
		case err != nil:
			if ctx.Err() == nil {
				s.o.Logger.Warn("heartbeat", "build", b.ID, "err", err)
			}
		case !alive:
			stop(errLost)
			return
		case cancel:
			stop(errCanceled)
			return
		}
	}
}

// clone fetches b's git source into dir: its host checked (and pinned)
// unless private addresses are allowed, its credentials kept out of the
// command line and the log.
func (s *Worker) clone(ctx context.Context, b store.Build, dir string, log *logWriter) (runner.Report, error) {
	fail := func(err error) (runner.Report, error) {
		return runner.Report{Phase: "source", ExitCode: 1, Message: "fetching the source: " + err.Error()}, nil
	}
	log.Note("kiln serve: fetching %s %s", runner.Redact(b.GitURL), strings.TrimSpace(b.Ref+" "+b.Commit))
	o := runner.CloneOptions{URL: b.GitURL, Ref: b.Ref, Commit: b.Commit}
	if u, cr, err := runner.SplitGitURL(b.GitURL); err != nil {
		return fail(err)
	} else if !cr.Empty() {
		o.URL = u // a build recorded before URLs were stripped
		o.Credentials = cr
	}
	userinfo, err := s.db.GetCredentials(ctx, b.ID)
	if err != nil {
		return runner.Report{}, err
	}
	if userinfo != "" {
		if o.Credentials, err = runner.ParseUserinfo(userinfo); err != nil {
			return fail(err)
		}
	}
	if !s.o.AllowPrivateGit {
		addrs, err := runner.CheckGitHost(ctx, s.o.Resolver, o.URL)
		if err != nil {
			return fail(err)
		}
		o.Pin = addrs[0]
	}
	commit, err := runner.Clone(ctx, o, dir, log)
	if err != nil {
		return fail(err)
	}
	if err := s.db.SetCommit(ctx, b.ID, commit); err != nil {
		return runner.Report{}, err
	}
	return runner.Report{}, nil
}

// signKey is the key file app's images are signed with, if any.
func (s *Worker) signKey(app store.App) string {
	if s.o.SignKey == nil {
		return ""
	}
	return s.o.SignKey(app.Name, app.SigningKey)
}

// TriggerRebase is the trigger of a rebase the service started because
// the app's run image moved (service.TriggerRebase).
const TriggerRebase = "rebase"

// changed tells followers in this process that build id moved on.
func (s *Worker) changed(id int64) {
	if s.o.Changed != nil {
		s.o.Changed(id)
	}
}
