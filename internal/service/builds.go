package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kiln-build/kiln/internal/extract"
	"github.com/kiln-build/kiln/internal/service/runner"
	"github.com/kiln-build/kiln/internal/service/store"
)

func toBuild(b store.Build) Build {
	out := Build{ID: b.ID, App: b.App, Status: Status(b.Status), Trigger: Trigger(b.Trigger), Ref: b.Ref, Commit: b.Commit,
		Image: b.Image, Digest: b.Digest, Phase: b.Phase, ExitCode: b.ExitCode, Reason: b.Reason,
		Created: time.UnixMilli(b.Created).UTC(), LogSize: b.LogSize, Attempt: b.Attempt, Worker: b.Worker}
	if b.Started != 0 {
		t := time.UnixMilli(b.Started).UTC()
		out.Started = &t
	}
	if b.Finished != 0 {
		t := time.UnixMilli(b.Finished).UTC()
		out.Finished = &t
	}
	_ = json.Unmarshal([]byte(b.Phases), &out.Phases)
	return out
}

// Start records a build of src for app and queues it, in one
// transaction with the app's still-queued builds marked superseded and
// their jobs cancelled.
func (s *Service) Start(ctx context.Context, app string, src Source) (Build, error) {
	var data []byte
	if src.Tarball != nil {
		var err error
		if data, err = readLimited(src.Tarball, s.o.MaxSourceSize); err != nil {
			return Build{}, err
		}
		if err := runner.CheckTarball(data); errors.Is(err, extract.ErrTooLarge) {
			return Build{}, fmt.Errorf("the source has %v: %w", err, ErrTooLarge)
		} else if err != nil {
			return Build{}, invalid("the source is not a tar or tar.gz of a source tree: %v", err)
		}
	}
	gitURL, creds, err := s.checkGitSource(ctx, src)
	if err != nil {
		return Build{}, err
	}
	if src.Trigger == "" {
		src.Trigger = TriggerAPI
	}
	var out store.Build
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.GetApp(ctx, app); err != nil {
			return notFound(err, "app "+app)
		}
		if err := s.supersede(ctx, tx, app); err != nil {
			return err
		}
		b := store.Build{App: app, Status: string(StatusQueued), Trigger: string(src.Trigger), Created: s.now(),
			GitURL: gitURL, Ref: src.Ref, Commit: src.Commit}
		id, err := tx.InsertBuild(ctx, b)
		if err != nil {
			return err
		}
		if data != nil {
			if err := tx.PutSource(ctx, id, data); err != nil {
				return err
			}
		}
		if !creds.Empty() {
			if err := tx.PutCredentials(ctx, id, creds.Userinfo()); err != nil {
				return err
			}
		}
		job, err := s.queue.Insert(ctx, tx, id)
		if err != nil {
			return fmt.Errorf("queueing build %d: %w", id, err)
		}
		if err := tx.SetJob(ctx, id, job); err != nil {
			return err
		}
		out, err = tx.GetBuild(ctx, id)
		return err
	})
	if err != nil {
		return Build{}, err
	}
	return toBuild(out), nil
}

// checkGitSource checks the git URL of a source without a tarball and
// splits its credentials off: only the URL without them is recorded.
// Unless AllowPrivateGit, a host that is or resolves to a loopback,
// link-local or private address is refused (the worker checks again when
// it clones, and connects to the address it checked).
func (s *Service) checkGitSource(ctx context.Context, src Source) (string, runner.Credentials, error) {
	if src.Tarball != nil {
		return "", runner.Credentials{}, nil
	}
	if src.GitURL == "" {
		return "", runner.Credentials{}, invalid("a build needs a source tarball or a git URL")
	}
	u, creds, err := runner.SplitGitURL(src.GitURL)
	if err != nil {
		return "", runner.Credentials{}, invalid("%v", err)
	}
	if !s.o.AllowPrivateGit {
		if _, err := runner.CheckGitHost(ctx, s.o.Resolver, u); err != nil {
			return "", runner.Credentials{}, invalid("%v", err)
		}
	}
	return u, creds, nil
}

// supersede ends app's queued builds as superseded and cancels their jobs.
func (s *Service) supersede(ctx context.Context, tx *store.Tx, app string) error {
	queued, err := tx.QueuedBuilds(ctx, app)
	if err != nil {
		return err
	}
	for _, b := range queued {
		if _, err := tx.EndQueued(ctx, b.ID, string(StatusSuperseded), "a newer build of the app was started", s.now()); err != nil {
			return err
		}
		if err := tx.DeleteSource(ctx, b.ID); err != nil {
			return err
		}
		if err := s.queue.Cancel(ctx, tx, b.JobID); err != nil {
			return err
		}
	}
	return nil
}

// readLimited reads r to the end; more than limit bytes is ErrTooLarge.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading the source: %w", err)
	}
	if n > limit {
		// Read the rest, so a client that sent it all gets the answer.
		_, _ = io.Copy(io.Discard, io.LimitReader(r, 64<<20))
		return nil, fmt.Errorf("the source is larger than %d bytes: %w", limit, ErrTooLarge)
	}
	return buf.Bytes(), nil
}

// GetBuild reads build id.
func (s *Service) GetBuild(ctx context.Context, id int64) (Build, error) {
	b, err := s.db.GetBuild(ctx, id)
	if err != nil {
		return Build{}, notFound(err, fmt.Sprintf("build %d", id))
	}
	return toBuild(b), nil
}

// ListBuilds reads app's latest builds, newest first (at most limit).
func (s *Service) ListBuilds(ctx context.Context, app string, limit int) ([]Build, error) {
	if _, err := s.db.GetApp(ctx, app); err != nil {
		return nil, notFound(err, "app "+app)
	}
	bs, err := s.db.ListBuilds(ctx, app, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Build, 0, len(bs))
	for _, b := range bs {
		out = append(out, toBuild(b))
	}
	return out, nil
}

// ErrFinished is what Cancel returns for a build that has ended.
var ErrFinished = errors.New("the build has ended")

// Cancel stops build id: a queued one ends canceled at once (its job
// cancelled); a running one is stopped by its worker within about a
// second (SIGINT to kiln build, which tears its sandbox down) and ends
// canceled. A build that has ended is ErrFinished.
func (s *Service) Cancel(ctx context.Context, id int64) (Build, error) {
	var out store.Build
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		b, err := tx.GetBuild(ctx, id)
		if err != nil {
			return notFound(err, fmt.Sprintf("build %d", id))
		}
		switch Status(b.Status) {
		case StatusQueued:
			if _, err := tx.EndQueued(ctx, id, string(StatusCanceled), "canceled while queued", s.now()); err != nil {
				return err
			}
			if err := tx.DeleteSource(ctx, id); err != nil {
				return err
			}
			if err := s.queue.Cancel(ctx, tx, b.JobID); err != nil {
				return err
			}
		case StatusRunning:
			if _, err := tx.RequestCancel(ctx, id); err != nil {
				return err
			}
		default:
			return fmt.Errorf("build %d is %s: %w", id, b.Status, ErrFinished)
		}
		out, err = tx.GetBuild(ctx, id)
		return err
	})
	if err != nil {
		return Build{}, err
	}
	return toBuild(out), nil
}

// ReadLog reads build id's log from byte offset from, at most about max
// bytes.
func (s *Service) ReadLog(ctx context.Context, id, from int64, max int) ([]byte, error) {
	return s.db.ReadLog(ctx, id, from, max)
}

// Follow writes build id's log to w from offset on as it grows, until the
// build has ended and all of its log is written (or ctx ends), and
// returns the build as it ended.
func (s *Service) Follow(ctx context.Context, id int64, offset int64, w io.Writer) (Build, error) {
	defer s.Ended(id)
	for {
		changed := s.Changed(id)
		b, err := s.GetBuild(ctx, id)
		if err != nil {
			return Build{}, err
		}
		for offset < b.LogSize {
			data, err := s.db.ReadLog(ctx, id, offset, 256<<10)
			if err != nil {
				return b, err
			}
			if len(data) == 0 {
				break
			}
			if _, err := w.Write(data); err != nil {
				return b, err
			}
			offset += int64(len(data))
		}
		if b.Status.Final() && offset >= b.LogSize {
			return b, nil
		}
		if f, ok := w.(interface{ Flush() }); ok {
			f.Flush()
		}
		select {
		case <-ctx.Done():
			return b, ctx.Err()
		case <-changed:
		case <-time.After(s.o.Poll):
		}
	}
}
