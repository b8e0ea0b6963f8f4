package service

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/service/runner"
)

// TestStartRebase: a rebase is queued like a build, runs as a kiln rebase
// of the app's image (no source), and is not queued while a build of the
// app is queued or running.
func TestStartRebase(t *testing.T) {
	ctx := context.Background()
	fb := &fakeBuilder{}
	s := newTestService(t, 1, fb)
	if _, err := s.CreateApp(ctx, "web", AppSettings{}); err != nil {
		t.Fatal(err)
	}
	id, reason, err := s.startRebase(ctx, "web", "sha256:new")
	if err != nil || id == 0 || !strings.Contains(reason, "sha256:new") {
		t.Fatalf("startRebase = %d, %q, %v", id, reason, err)
	}
	b := waitFinal(t, s, id)
	if b.Status != StatusSucceeded || b.Trigger != TriggerRebase {
		t.Fatalf("rebase build %+v", b)
	}
	fb.mu.Lock()
	spec := fb.specs[len(fb.specs)-1]
	fb.mu.Unlock()
	if !spec.Rebase || spec.Image != "registry.test/apps/web:latest" || spec.Dir != "" {
		t.Errorf("the rebase ran as %+v", spec)
	}

	// busy: a queued build takes the new run image; no rebase is queued
	block := make(chan struct{})
	fb.mu.Lock()
	fb.fn = func(ctx context.Context, _ runner.Spec, log io.Writer) (runner.Report, error) {
		<-block
		return runner.Report{Digest: "sha256:" + strings.Repeat("cd", 32)}, nil
	}
	fb.mu.Unlock()
	running, err := s.Start(ctx, "web", Source{Tarball: bytes.NewReader(sourceTar(t))})
	if err != nil {
		t.Fatal(err)
	}
	id, reason, err = s.startRebase(ctx, "web", "sha256:newer")
	close(block)
	if err != nil || id != 0 || !strings.Contains(reason, "will publish on the new run image") {
		t.Errorf("startRebase while build %d is unfinished = %d, %q, %v", running.ID, id, reason, err)
	}
	waitFinal(t, s, running.ID)
}

// TestKeptSourceDropped: an app that stops asking to be rebuilt when its
// builder changes no longer keeps its last source.
func TestKeptSourceDropped(t *testing.T) {
	ctx := context.Background()
	s := newTestService(t, 1, &fakeBuilder{})
	on, off := true, false
	if _, err := s.CreateApp(ctx, "web", AppSettings{RebuildOnBuilderChange: &on}); err != nil {
		t.Fatal(err)
	}
	b, err := s.Start(ctx, "web", Source{Tarball: bytes.NewReader(sourceTar(t))})
	if err != nil {
		t.Fatal(err)
	}
	if waitFinal(t, s, b.ID).Status != StatusSucceeded {
		t.Fatal("the build failed")
	}
	if src, err := s.db.GetAppSource(ctx, "web"); err != nil || len(src.Data) == 0 {
		t.Fatalf("the source was not kept: %+v %v", src, err)
	}
	if _, err := s.UpdateApp(ctx, "web", AppSettings{RebuildOnBuilderChange: &off}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.GetAppSource(ctx, "web"); err == nil {
		t.Error("the kept source outlived the setting")
	}
}
