package service

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestWakeup(t *testing.T) {
	var w wakeup
	a, b := w.wait(1), w.wait(1)
	other := w.wait(2)
	w.notify(1)
	for _, c := range []<-chan struct{}{a, b} {
		select {
		case <-c:
		default:
			t.Error("a waiter of build 1 was not woken")
		}
	}
	select {
	case <-other:
		t.Error("build 2's waiter woke")
	default:
	}
	select {
	case <-w.wait(1):
		t.Error("a new wait saw the old notify")
	default:
	}
	w.notify(3) // nobody waits: nothing happens
}

// TestFollowWakes: a follower in the worker's process sees the log and
// the end as they are written, not at its next poll (here 30 s).
func TestFollowWakes(t *testing.T) {
	s := newTestServiceWith(t, 1, nil, func(o *Options) { o.Poll = 30 * time.Second })
	ctx := context.Background()
	if _, err := s.CreateApp(ctx, "web", AppSettings{}); err != nil {
		t.Fatal(err)
	}
	b, err := s.Start(ctx, "web", Source{Tarball: bytes.NewReader(sourceTar(t))})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	start := time.Now()
	end, err := s.Follow(ctx, b.ID, 0, &out)
	if err != nil || !end.Status.Final() {
		t.Fatalf("Follow = %+v, %v", end, err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Follow took %s: it waited for its poll", d)
	}
	if !strings.Contains(out.String(), "===> BUILDING") {
		t.Errorf("log %q", out.String())
	}
}

// TestFollowLeavesNoWaiter: a follower that leaves before its build ends
// (the build runs in another process, or not yet) drops the build's
// channel, so followers that come and go do not pile channels up.
func TestFollowLeavesNoWaiter(t *testing.T) {
	s := newTestServiceWith(t, 0, nil, func(o *Options) { o.Poll = 10 * time.Millisecond })
	ctx := context.Background()
	if _, err := s.CreateApp(ctx, "web", AppSettings{}); err != nil {
		t.Fatal(err)
	}
	b, err := s.Start(ctx, "web", Source{Tarball: bytes.NewReader(sourceTar(t))})
	if err != nil {
		t.Fatal(err)
	}
	fctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := s.Follow(fctx, b.ID, 0, &bytes.Buffer{}); err == nil {
		t.Fatal("Follow of a queued build ended without error")
	}
	s.wake.mu.Lock()
	defer s.wake.mu.Unlock()
	if _, ok := s.wake.ch[b.ID]; ok {
		t.Error("the build's channel stayed after its follower left")
	}
}
