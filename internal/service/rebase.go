package service

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/service/store"
	"github.com/kiln-build/kiln/internal/service/work"
	"github.com/kiln-build/kiln/lifecycle/fleet"
	"github.com/kiln-build/kiln/lifecycle/imageio"
)

// RunImageCheck is what CheckRunImages found for one app.
type RunImageCheck struct {
	App   string `json:"app"`
	Image string `json:"image"`
	// Outcome is "rebasing" (a rebase was queued: Build is its id),
	// "rebuilding" (the app's builder changed and the app asked to be
	// rebuilt then: Build is the build of its last source), "current",
	// "busy" (outdated, but a build or rebase of the app is queued or
	// running, which takes the new run image), "skipped" or "error"
	// (Reason says why).
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
	Build   int64  `json:"build,omitempty"`
}

// CheckRunImages reads, for every app with a published image, the run
// image its image sits on and the newest digest of that run image (each
// run image once, through lifecycle/fleet), and queues a rebase of each
// app whose run image moved. The rebase shows in the app's history like
// a build (trigger "rebase"). An app that has a build or rebase queued or
// running is left to it.
func (s *Service) CheckRunImages(ctx context.Context) ([]RunImageCheck, error) {
	apps, err := s.db.ListApps(ctx)
	if err != nil {
		return nil, err
	}
	var refs []string
	byRef := map[string]store.App{}
	for _, a := range apps {
		ok, err := s.db.HasSucceeded(ctx, a.Name)
		if err != nil {
			return nil, err
		}
		if ok {
			ref := work.ImageRef(a)
			refs = append(refs, ref)
			byRef[ref] = a
		}
	}
	if len(refs) == 0 {
		return []RunImageCheck{}, nil
	}
	status := fleet.New(imageio.New(nil)).Status(ctx, refs, "")
	builders := map[string]builderLookup{} // apps share builders: each is read once
	out := make([]RunImageCheck, 0, len(status))
	for _, im := range status {
		a := byRef[im.Ref]
		c := RunImageCheck{App: a.Name, Image: im.Ref}
		switch {
		case im.Error != "":
			c.Outcome, c.Reason = "error", im.Error
		case im.Skipped != "":
			c.Outcome, c.Reason = "skipped", im.Skipped
		case a.RebuildOnBuilderChange && s.builderMoved(ctx, a, im, builders, &c):
			// c says whether a rebuild was queued
		case im.RunImageError != "":
			c.Outcome, c.Reason = "error", im.RunImageError
		case !im.Outdated:
			c.Outcome = "current"
		default:
			c.Build, c.Reason, err = s.startRebase(ctx, a.Name, im.LatestRunDigest)
			if err != nil {
				return out, err
			}
			c.Outcome = "rebasing"
			if c.Build == 0 {
				c.Outcome = "busy"
			}
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].App < out[j].App })
	return out, nil
}

// builderMoved checks an app that asked to be rebuilt when its builder
// changes: when the builder its image records (io.kiln.builder,
// name@digest) is not what the app's builder name resolves to now, the
// app's last successful source is built again (c says so). It reports
// whether it settled the app's outcome.
func (s *Service) builderMoved(ctx context.Context, a store.App, im *fleet.Image, builders map[string]builderLookup, c *RunImageCheck) bool {
	if a.Builder == "" {
		return false // kiln's default builder lives in each worker's store
	}
	bd, ok := builders[a.Builder]
	if !ok {
		bd.digest, bd.err = s.builderDigest(ctx, a.Builder)
		builders[a.Builder] = bd
	}
	if bd.err != nil {
		c.Outcome, c.Reason = "error", fmt.Sprintf("reading the builder %s: %v", a.Builder, bd.err)
		return true
	}
	d := bd.digest
	if strings.HasSuffix(im.Builder, "@"+d) {
		return false
	}
	src, err := s.db.GetAppSource(ctx, a.Name)
	if err != nil {
		c.Outcome, c.Reason = "skipped", "the builder changed, but no source of a successful build is kept (the app opted in after it)"
		return true
	}
	busy, err := s.busy(ctx, a.Name)
	switch {
	case err != nil:
		c.Outcome, c.Reason = "error", err.Error()
		return true
	case busy != "":
		c.Outcome, c.Reason = "busy", busy
		return true
	}
	source := Source{Trigger: TriggerBuilder, GitURL: src.GitURL, Ref: src.Ref, Commit: src.Commit}
	if src.Data != nil {
		source.Tarball = bytes.NewReader(src.Data)
	}
	b, err := s.Start(ctx, a.Name, source)
	if err != nil {
		c.Outcome, c.Reason = "error", fmt.Sprintf("rebuilding: %v", err)
		return true
	}
	c.Outcome, c.Build = "rebuilding", b.ID
	c.Reason = fmt.Sprintf("the builder %s moved to %s; building build %d's source again", a.Builder, d, src.BuildID)
	return true
}

// builderLookup is what reading a builder's digest found.
type builderLookup struct {
	digest string
	err    error
}

// builderDigest reads the digest builder's name resolves to now.
func (s *Service) builderDigest(ctx context.Context, builder string) (string, error) {
	img, err := imageio.New(nil).Remote(ctx, builder)
	if err != nil {
		return "", err
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

// busy says which unfinished build of app there is, if any.
func (s *Service) busy(ctx context.Context, app string) (string, error) {
	b, err := unfinished(ctx, s.db.Q, app)
	if err != nil || b == nil {
		return "", err
	}
	return fmt.Sprintf("build %d (%s) is not finished", b.ID, b.Status), nil
}

// unfinished is app's newest build that is queued or running, if any.
func unfinished(ctx context.Context, q store.Q, app string) (*store.Build, error) {
	bs, err := q.ListBuilds(ctx, app, 20)
	if err != nil {
		return nil, err
	}
	for _, b := range bs {
		if !Status(b.Status).Final() {
			return &b, nil
		}
	}
	return nil, nil
}

// startRebase queues a rebase of app unless a build or rebase of it is
// queued or running; it returns the new build's id (0 when busy) and why.
func (s *Service) startRebase(ctx context.Context, app, runDigest string) (int64, string, error) {
	var id int64
	reason := "the run image moved to " + runDigest
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		b, err := unfinished(ctx, tx.Q, app)
		if err != nil {
			return err
		}
		if b != nil {
			reason = fmt.Sprintf("build %d (%s) will publish on the new run image", b.ID, b.Status)
			return nil
		}
		id, err = tx.InsertBuild(ctx, store.Build{App: app, Status: string(StatusQueued), Trigger: string(TriggerRebase), Created: s.now()})
		if err != nil {
			return err
		}
		job, err := s.queue.Insert(ctx, tx, id)
		if err != nil {
			return fmt.Errorf("queueing the rebase %d of %s: %w", id, app, err)
		}
		return tx.SetJob(ctx, id, job)
	})
	if err != nil {
		return 0, "", err
	}
	return id, reason, nil
}

// watchRunImages runs CheckRunImages every interval until ctx ends.
func (s *Service) watchRunImages(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		checks, err := s.CheckRunImages(ctx)
		if err != nil && ctx.Err() == nil {
			s.o.Logger.Warn("checking the apps' run images", "err", err)
		}
		for _, c := range checks {
			if c.Outcome == "rebasing" {
				s.o.Logger.Info("rebasing an app onto its moved run image", "app", c.App, "build", c.Build, "reason", c.Reason)
			}
		}
	}
}
