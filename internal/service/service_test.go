package service

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/service/runner"
	"github.com/kiln-build/kiln/internal/service/store"
)

// fakeBuilder scripts builds: each call runs fn (default: a few log
// lines and success) and records its spec.
type fakeBuilder struct {
	mu    sync.Mutex
	specs []runner.Spec
	fn    func(ctx context.Context, spec runner.Spec, log io.Writer) (runner.Report, error)
}

func (f *fakeBuilder) Build(ctx context.Context, spec runner.Spec, log io.Writer) (runner.Report, error) {
	f.mu.Lock()
	f.specs = append(f.specs, spec)
	fn := f.fn
	f.mu.Unlock()
	if fn == nil {
		fmt.Fprintln(log, "===> DETECTING")
		fmt.Fprintln(log, "===> BUILDING")
		return runner.Report{Image: spec.Image, Digest: "sha256:" + strings.Repeat("ab", 32),
			Phases: []runner.Phase{{Name: "detect", Started: time.Unix(1, 0).UTC(), Duration: time.Second}}}, nil
	}
	return fn(ctx, spec, log)
}

func (f *fakeBuilder) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.specs)
}

const testAdmin = "admin-secret"

// newTestService is a Service on a fresh SQLite database with quick
// timings; workers 0 runs no builds.
func newTestService(t *testing.T, workers int, fb *fakeBuilder) *Service {
	t.Helper()
	return newTestServiceWith(t, workers, fb, nil)
}

// newTestServiceWith is newTestService with set changing the options.
func newTestServiceWith(t *testing.T, workers int, fb *fakeBuilder, set func(*Options)) *Service {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "kiln.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if fb == nil {
		fb = &fakeBuilder{}
	}
	o := Options{
		RegistryPrefix: "registry.test/apps", AdminToken: testAdmin, Workers: workers, Builder: fb,
		MaxSourceSize: 1 << 20, Heartbeat: 50 * time.Millisecond, StaleAfter: 400 * time.Millisecond,
		Snooze: 100 * time.Millisecond, LogFlush: 20 * time.Millisecond, Poll: 20 * time.Millisecond,
		WorkerName: "test-worker",
	}
	if set != nil {
		set(&o)
	}
	s, err := New(db, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.StartWorkers(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(sctx)
	})
	return s
}

// sourceTar is a tar of one file.
func sourceTar(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := "web: echo hi\n"
	tw.WriteHeader(&tar.Header{Name: "Procfile", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
	tw.Write([]byte(body))
	tw.Close()
	return buf.Bytes()
}

// bombHeader is a tar stream of one header claiming size bytes, without
// them.
func bombHeader(t *testing.T, size int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "zeros", Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func mustApp(t *testing.T, s *Service, name string) {
	t.Helper()
	if _, err := s.CreateApp(context.Background(), name, AppSettings{}); err != nil {
		t.Fatal(err)
	}
}

func mustStart(t *testing.T, s *Service, app string) Build {
	t.Helper()
	b, err := s.Start(context.Background(), app, Source{Tarball: bytes.NewReader(sourceTar(t))})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitBuild waits until build id satisfies ok.
func waitBuild(t *testing.T, s *Service, id int64, what string, ok func(Build) bool) Build {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, err := s.GetBuild(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if ok(b) {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("build %d is %s, not %s, after 15s: %+v", id, b.Status, what, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitFinal(t *testing.T, s *Service, id int64) Build {
	t.Helper()
	return waitBuild(t, s, id, "final", func(b Build) bool { return b.Status.Final() })
}

func fullLog(t *testing.T, s *Service, id int64) string {
	t.Helper()
	var buf bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.Follow(ctx, id, 0, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// riverState is the state of River's job id.
func riverState(t *testing.T, s *Service, id int64) string {
	t.Helper()
	var st string
	if err := s.db.SQL.QueryRow(`SELECT state FROM river_job WHERE id = ?`, id).Scan(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestBuildSucceeds(t *testing.T) {
	fb := &fakeBuilder{}
	s := newTestService(t, 1, fb)
	mustApp(t, s, "web")
	ctx := context.Background()
	if _, err := s.UpdateApp(ctx, "web", AppSettings{Env: map[string]string{"GREETING": "hi"}}); err != nil {
		t.Fatal(err)
	}
	b := mustStart(t, s, "web")
	if b.Status != StatusQueued || b.Trigger != TriggerAPI {
		t.Errorf("started build: %+v", b)
	}
	b = waitFinal(t, s, b.ID)
	if b.Status != StatusSucceeded || b.Image != "registry.test/apps/web:latest" || !strings.HasPrefix(b.Digest, "sha256:") {
		t.Errorf("build: %+v", b)
	}
	if len(b.Phases) != 1 || b.Phases[0].Name != "detect" || b.Phases[0].Duration != time.Second {
		t.Errorf("phases: %+v", b.Phases)
	}
	if b.Started == nil || b.Finished == nil {
		t.Errorf("times unset: %+v", b)
	}
	log := fullLog(t, s, b.ID)
	for _, want := range []string{"build 1 of web, attempt 1", "===> BUILDING", "build succeeded: registry.test/apps/web:latest@sha256:"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	spec := fb.specs[0]
	if spec.CacheImage != "registry.test/apps/web:cache" || spec.Env["GREETING"] != "hi" || spec.RunImageRepo != "registry.test/apps/kiln/run" {
		t.Errorf("spec: %+v", spec)
	}
	if _, err := s.db.GetSource(ctx, b.ID); !errors.Is(err, store.ErrNoRows) {
		t.Errorf("the source of a finished build is kept: %v", err)
	}
	if lb, _, _ := s.db.Lease(ctx, "web"); lb != 0 {
		t.Errorf("lease still held by %d", lb)
	}
}

func TestBuildFails(t *testing.T) {
	fb := &fakeBuilder{fn: func(ctx context.Context, spec runner.Spec, log io.Writer) (runner.Report, error) {
		fmt.Fprintln(log, "app: failing on purpose")
		return runner.Report{Phase: "build", ExitCode: 51, Message: "buildpack kiln-test/app failed"}, nil
	}}
	s := newTestService(t, 1, fb)
	mustApp(t, s, "web")
	b := waitFinal(t, s, mustStart(t, s, "web").ID)
	if b.Status != StatusFailed || b.Phase != "build" || b.ExitCode != 51 || b.Reason != "buildpack kiln-test/app failed" || b.Digest != "" || b.Image != "" {
		t.Errorf("build: %+v", b)
	}
	if log := fullLog(t, s, b.ID); !strings.Contains(log, "build failed in phase build (exit code 51): buildpack kiln-test/app failed") {
		t.Errorf("log:\n%s", log)
	}
}

func TestBuilderError(t *testing.T) {
	fb := &fakeBuilder{fn: func(context.Context, runner.Spec, io.Writer) (runner.Report, error) {
		return runner.Report{}, errors.New("kiln build exited 2 without a report")
	}}
	s := newTestService(t, 1, fb)
	mustApp(t, s, "web")
	b := waitFinal(t, s, mustStart(t, s, "web").ID)
	if b.Status != StatusFailed || b.ExitCode != 1 || !strings.Contains(b.Reason, "without a report") {
		t.Errorf("build: %+v", b)
	}
}

func TestStartRefusesBadInput(t *testing.T) {
	s := newTestService(t, 0, nil)
	mustApp(t, s, "web")
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		app  string
		src  Source
		want error
	}{
		{"not a tar", "web", Source{Tarball: strings.NewReader("hello, not a tar stream at all, sorry")}, ErrInvalid},
		{"empty tar", "web", Source{Tarball: bytes.NewReader(make([]byte, 1024))}, ErrInvalid},
		{"too large", "web", Source{Tarball: bytes.NewReader(make([]byte, 2<<20))}, ErrTooLarge},
		{"unpacks too large", "web", Source{Tarball: bytes.NewReader(bombHeader(t, runner.MaxSourceBytes+1))}, ErrTooLarge},
		{"no source", "web", Source{}, ErrInvalid},
		{"unknown app", "nope", Source{Tarball: bytes.NewReader(sourceTar(t))}, ErrNotFound},
	} {
		if _, err := s.Start(ctx, tc.app, tc.src); !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
	bs, _ := s.ListBuilds(ctx, "web", 10)
	var jobs, sources int
	s.db.SQL.QueryRow(`SELECT COUNT(*) FROM river_job`).Scan(&jobs)
	s.db.SQL.QueryRow(`SELECT COUNT(*) FROM kiln_build_sources`).Scan(&sources)
	if len(bs) != 0 || jobs != 0 || sources != 0 {
		t.Errorf("refused builds left %d builds, %d jobs, %d sources", len(bs), jobs, sources)
	}
}

func TestStartSupersedesQueued(t *testing.T) {
	s := newTestService(t, 0, nil) // nothing runs: builds stay queued
	mustApp(t, s, "web")
	mustApp(t, s, "other")
	first := mustStart(t, s, "web")
	other := mustStart(t, s, "other")
	second := mustStart(t, s, "web")
	ctx := context.Background()
	got, _ := s.GetBuild(ctx, first.ID)
	if got.Status != StatusSuperseded || got.Finished == nil {
		t.Errorf("first build: %+v", got)
	}
	fb, _ := s.db.GetBuild(ctx, first.ID)
	if st := riverState(t, s, fb.JobID); st != "cancelled" {
		t.Errorf("the superseded build's job is %s", st)
	}
	for _, id := range []int64{second.ID, other.ID} {
		if got, _ := s.GetBuild(ctx, id); got.Status != StatusQueued {
			t.Errorf("build %d: %+v", id, got)
		}
	}
}

func TestBusyAppSnoozes(t *testing.T) {
	fb := &fakeBuilder{}
	s := newTestService(t, 1, fb)
	mustApp(t, s, "web")
	ctx := context.Background()
	// Another worker holds the app's lease.
	now := time.Now().UnixMilli()
	if ok, err := s.db.AcquireLease(ctx, "web", 999, now, now+60_000); !ok || err != nil {
		t.Fatal(ok, err)
	}
	b := mustStart(t, s, "web")
	time.Sleep(700 * time.Millisecond)
	got, _ := s.GetBuild(ctx, b.ID)
	if got.Status != StatusQueued || fb.calls() != 0 {
		t.Fatalf("build ran while its app was leased: %+v", got)
	}
	row, _ := s.db.GetBuild(ctx, b.ID)
	if n := s.w.Snoozes(); n == 0 {
		t.Errorf("the busy app's job was not snoozed")
	}
	if st := riverState(t, s, row.JobID); st == "completed" || st == "discarded" || st == "cancelled" {
		t.Errorf("the busy app's job is %s", st)
	}
	if err := s.db.ReleaseLease(ctx, "web", 999); err != nil {
		t.Fatal(err)
	}
	if got := waitFinal(t, s, b.ID); got.Status != StatusSucceeded {
		t.Errorf("build: %+v", got)
	}
}

func TestOneBuildPerApp(t *testing.T) {
	var mu sync.Mutex
	running, most := map[string]int{}, 0
	fb := &fakeBuilder{fn: func(ctx context.Context, spec runner.Spec, log io.Writer) (runner.Report, error) {
		mu.Lock()
		running[spec.Image]++
		most = max(most, running[spec.Image])
		mu.Unlock()
		time.Sleep(150 * time.Millisecond)
		mu.Lock()
		running[spec.Image]--
		mu.Unlock()
		return runner.Report{Digest: "sha256:00"}, nil
	}}
	s := newTestService(t, 3, fb)
	mustApp(t, s, "web")
	ctx := context.Background()
	a := mustStart(t, s, "web")
	waitBuild(t, s, a.ID, "running", func(b Build) bool { return b.Status == StatusRunning })
	b := mustStart(t, s, "web") // queued behind a: a second worker must wait
	if got := waitFinal(t, s, b.ID); got.Status != StatusSucceeded {
		t.Errorf("build b: %+v", got)
	}
	if got, _ := s.GetBuild(ctx, a.ID); got.Status != StatusSucceeded {
		t.Errorf("build a: %+v", got)
	}
	if most != 1 {
		t.Errorf("%d builds of one app ran at once", most)
	}
}

// blockingBuilder runs until its context ends, then reports kiln's
// interrupted exit.
func blockingBuilder(started chan<- struct{}) *fakeBuilder {
	return &fakeBuilder{fn: func(ctx context.Context, spec runner.Spec, log io.Writer) (runner.Report, error) {
		fmt.Fprintln(log, "app: sleeping")
		if started != nil {
			started <- struct{}{}
		}
		<-ctx.Done()
		return runner.Report{Phase: "build", ExitCode: 130, Message: "the build was stopped"}, nil
	}}
}

func TestCancelRunning(t *testing.T) {
	started := make(chan struct{}, 1)
	s := newTestService(t, 1, blockingBuilder(started))
	mustApp(t, s, "web")
	b := mustStart(t, s, "web")
	<-started
	if _, err := s.Cancel(context.Background(), b.ID); err != nil {
		t.Fatal(err)
	}
	got := waitFinal(t, s, b.ID)
	if got.Status != StatusCanceled || got.ExitCode != 130 || got.Reason != "canceled" {
		t.Errorf("build: %+v", got)
	}
	if _, err := s.Cancel(context.Background(), b.ID); !errors.Is(err, ErrFinished) {
		t.Errorf("cancelling an ended build: %v", err)
	}
	if _, err := s.Cancel(context.Background(), 12345); !errors.Is(err, ErrNotFound) {
		t.Errorf("cancelling an unknown build: %v", err)
	}
}

func TestCancelQueued(t *testing.T) {
	s := newTestService(t, 0, nil)
	mustApp(t, s, "web")
	b := mustStart(t, s, "web")
	got, err := s.Cancel(context.Background(), b.ID)
	if err != nil || got.Status != StatusCanceled {
		t.Fatalf("cancel: %+v %v", got, err)
	}
	row, _ := s.db.GetBuild(context.Background(), b.ID)
	if st := riverState(t, s, row.JobID); st != "cancelled" {
		t.Errorf("job is %s", st)
	}
}

// markRunning makes build id look run by a worker last heard of at hb.
func markRunning(t *testing.T, s *Service, id int64, hb time.Time) {
	t.Helper()
	row, _ := s.db.GetBuild(context.Background(), id)
	ok, err := s.db.MarkRunning(context.Background(), id, row.JobID, "dead-run", "dead-worker", hb.UnixMilli())
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
}

func TestReaperRequeuesThenFails(t *testing.T) {
	s := newTestService(t, 0, nil)
	mustApp(t, s, "web")
	ctx := context.Background()
	b := mustStart(t, s, "web")
	markRunning(t, s, b.ID, time.Now().Add(-time.Minute))
	if err := s.Reap(ctx); err != nil {
		t.Fatal(err)
	}
	row, _ := s.db.GetBuild(ctx, b.ID)
	if row.Status != "queued" || row.Attempt != 2 || row.RunID != "" {
		t.Fatalf("after one reap: %+v", row)
	}
	if st := riverState(t, s, row.JobID); st != "available" {
		t.Errorf("the re-queued build's new job is %s", st)
	}
	// Its second worker dies too: MaxAttempts (2) is used up.
	markRunning(t, s, b.ID, time.Now().Add(-time.Minute))
	if err := s.Reap(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := s.GetBuild(ctx, b.ID)
	if got.Status != StatusFailed || got.Reason != "worker lost" {
		t.Errorf("after the second reap: %+v", got)
	}
	log := fullLog(t, s, b.ID)
	for _, want := range []string{"attempt 1 (dead-worker) was lost", "re-queued as attempt 2 of 2", "attempt 2 (dead-worker) was lost: no heartbeat for 400ms; the build failed"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

func TestReaperLeavesFreshBuilds(t *testing.T) {
	s := newTestService(t, 0, nil)
	mustApp(t, s, "web")
	b := mustStart(t, s, "web")
	markRunning(t, s, b.ID, time.Now())
	if err := s.Reap(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetBuild(context.Background(), b.ID); got.Status != StatusRunning {
		t.Errorf("a build with a fresh heartbeat was reaped: %+v", got)
	}
}

func TestReaperSupersedesWhenNewer(t *testing.T) {
	s := newTestService(t, 0, nil)
	mustApp(t, s, "web")
	old := mustStart(t, s, "web")
	markRunning(t, s, old.ID, time.Now().Add(-time.Minute))
	mustStart(t, s, "web")
	if err := s.Reap(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetBuild(context.Background(), old.ID); got.Status != StatusSuperseded {
		t.Errorf("old build: %+v", got)
	}
}

func TestHeartbeatKeepsLongBuild(t *testing.T) {
	fb := &fakeBuilder{fn: func(ctx context.Context, spec runner.Spec, log io.Writer) (runner.Report, error) {
		time.Sleep(1500 * time.Millisecond) // well past StaleAfter (400 ms)
		return runner.Report{Digest: "sha256:00"}, nil
	}}
	s := newTestService(t, 1, fb) // its reaper runs every ~130 ms
	mustApp(t, s, "web")
	got := waitFinal(t, s, mustStart(t, s, "web").ID)
	row, _ := s.db.GetBuild(context.Background(), got.ID)
	if got.Status != StatusSucceeded || row.Attempt != 1 || fb.calls() != 1 {
		t.Errorf("build: %+v attempt %d, %d runs", got, row.Attempt, fb.calls())
	}
}

func TestWorkerStopsBuildTakenFromIt(t *testing.T) {
	stopped := make(chan struct{})
	started := make(chan struct{}, 1)
	fb := &fakeBuilder{fn: func(ctx context.Context, spec runner.Spec, log io.Writer) (runner.Report, error) {
		started <- struct{}{}
		<-ctx.Done()
		close(stopped)
		return runner.Report{ExitCode: 130}, nil
	}}
	s := newTestService(t, 1, fb)
	mustApp(t, s, "web")
	b := mustStart(t, s, "web")
	<-started
	// Another process reaped it (as if this worker had stalled).
	if _, err := s.db.SQL.Exec(`UPDATE kiln_builds SET status = 'failed', reason = 'worker lost' WHERE id = ?`, b.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("the worker did not stop a build taken from it")
	}
	time.Sleep(200 * time.Millisecond)
	if got, _ := s.GetBuild(context.Background(), b.ID); got.Status != StatusFailed || got.Reason != "worker lost" {
		t.Errorf("the worker overwrote the build: %+v", got)
	}
}

func TestShutdownRequeues(t *testing.T) {
	started := make(chan struct{}, 1)
	s := newTestService(t, 1, blockingBuilder(started))
	mustApp(t, s, "web")
	b := mustStart(t, s, "web")
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	row, _ := s.db.GetBuild(context.Background(), b.ID)
	if row.Status != "queued" || row.Attempt != 1 {
		t.Errorf("after shutdown: %+v", row)
	}
	if st := riverState(t, s, row.JobID); st != "available" {
		t.Errorf("its new job is %s", st)
	}
	if src, err := s.db.GetSource(context.Background(), b.ID); err != nil || len(src) == 0 {
		t.Errorf("the re-queued build lost its source: %v", err)
	}
}

func TestFollowFromOffset(t *testing.T) {
	release := make(chan struct{})
	fb := &fakeBuilder{fn: func(ctx context.Context, spec runner.Spec, log io.Writer) (runner.Report, error) {
		fmt.Fprintln(log, "line one")
		<-release
		fmt.Fprintln(log, "line two")
		return runner.Report{Digest: "sha256:00"}, nil
	}}
	s := newTestService(t, 1, fb)
	mustApp(t, s, "web")
	b := mustStart(t, s, "web")
	ctx := context.Background()
	b = waitBuild(t, s, b.ID, "logging", func(b Build) bool { return b.LogSize > 0 && b.Status == StatusRunning })
	head, _ := s.ReadLog(ctx, b.ID, 0, 1<<20)
	var buf bytes.Buffer
	done := make(chan Build)
	go func() {
		end, err := s.Follow(ctx, b.ID, int64(len(head)), &buf)
		if err != nil {
			t.Error(err)
		}
		done <- end
	}()
	time.Sleep(100 * time.Millisecond)
	close(release)
	end := <-done
	if end.Status != StatusSucceeded {
		t.Errorf("Follow returned %+v", end)
	}
	if want := fullLog(t, s, b.ID)[len(head):]; buf.String() != want {
		t.Errorf("followed %q, want %q", buf.String(), want)
	}
	if !strings.Contains(buf.String(), "line two") || strings.Contains(buf.String(), "build 1 of web") {
		t.Errorf("followed log: %q", buf.String())
	}
	if _, err := s.Follow(ctx, 999, 0, io.Discard); !errors.Is(err, ErrNotFound) {
		t.Errorf("following an unknown build: %v", err)
	}
}

// TestLogIsBounded: a build's output is untrusted; past MaxLogSize its log
// keeps none of it (however it is written: one huge write, many small
// ones, lines without an end), says so once, and still ends with kiln
// serve's own last line.
func TestLogIsBounded(t *testing.T) {
	const limit = 64 << 10
	for name, flood := range map[string]func(io.Writer){
		"one write": func(w io.Writer) { w.Write(bytes.Repeat([]byte("x"), 10*limit)) },
		"many lines": func(w io.Writer) {
			for range 20_000 {
				fmt.Fprintln(w, "spam spam spam spam spam")
			}
		},
		"no line ends": func(w io.Writer) {
			for range 10_000 {
				w.Write(bytes.Repeat([]byte("y"), 100))
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			fb := &fakeBuilder{fn: func(ctx context.Context, spec runner.Spec, log io.Writer) (runner.Report, error) {
				fmt.Fprintln(log, "app: before the flood")
				flood(log)
				fmt.Fprintln(log, "app: after the flood")
				return runner.Report{Digest: "sha256:00"}, nil
			}}
			s := newTestServiceWith(t, 1, fb, func(o *Options) { o.MaxLogSize = limit })
			mustApp(t, s, "web")
			b := waitFinal(t, s, mustStart(t, s, "web").ID)
			log := fullLog(t, s, b.ID)
			if b.Status != StatusSucceeded || b.LogSize > limit+1024 || int64(len(log)) != b.LogSize {
				t.Fatalf("build %+v, log of %d bytes (limit %d)", b, len(log), limit)
			}
			if n := strings.Count(log, "the rest of its output is left out"); n != 1 {
				t.Errorf("the log says %d times that output was left out", n)
			}
			if !strings.Contains(log, "app: before the flood") || strings.Contains(log, "app: after the flood") {
				t.Errorf("the log kept the wrong part:\n%.300s...", log)
			}
			if !strings.HasSuffix(log, "build succeeded: registry.test/apps/web:latest@sha256:00\n") {
				t.Errorf("the log does not end with the build's end:\n...%s", log[max(0, len(log)-300):])
			}
		})
	}
}
