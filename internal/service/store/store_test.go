package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testDBs are the databases the tests run on: SQLite in a temp dir, and
// PostgreSQL when KILN_TEST_POSTGRES names one (an empty database).
func testDBs(t *testing.T) map[string]*DB {
	t.Helper()
	ctx := context.Background()
	dbs := map[string]*DB{}
	lite, err := Open(ctx, filepath.Join(t.TempDir(), "sub", "kiln.db"))
	if err != nil {
		t.Fatal(err)
	}
	dbs["sqlite"] = lite
	if url := os.Getenv("KILN_TEST_POSTGRES"); url != "" {
		pg, err := Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		for _, tbl := range []string{"kiln_log_chunks", "kiln_build_sources", "kiln_builds", "kiln_deploy_tokens", "kiln_app_sources", "kiln_apps"} {
			pg.exec(ctx, `DELETE FROM `+tbl)
		}
		dbs["postgres"] = pg
	}
	for _, db := range dbs {
		t.Cleanup(func() { db.Close() })
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if err := db.Migrate(ctx); err != nil { // twice: nothing to do
			t.Fatal(err)
		}
	}
	return dbs
}

func TestApps(t *testing.T) {
	ctx := context.Background()
	for name, db := range testDBs(t) {
		t.Run(name, func(t *testing.T) {
			a := App{Name: "web", Image: "r.test/web", Env: map[string]string{"A": "1"}, Created: 1000}
			if ok, err := db.CreateApp(ctx, a); !ok || err != nil {
				t.Fatal(ok, err)
			}
			if ok, err := db.CreateApp(ctx, a); ok || err != nil {
				t.Errorf("creating it again: %v %v", ok, err)
			}
			got, err := db.GetApp(ctx, "web")
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(a, got); d != "" {
				t.Errorf("app (-want +got):\n%s", d)
			}
			a.Builder, a.WebhookSecret, a.Env = "r.test/b", "sec", map[string]string{}
			if ok, err := db.UpdateApp(ctx, a); !ok || err != nil {
				t.Fatal(ok, err)
			}
			db.CreateApp(ctx, App{Name: "api", Image: "r.test/api", Created: 2})
			apps, err := db.ListApps(ctx)
			if err != nil || len(apps) != 2 || apps[0].Name != "api" || apps[1].Builder != "r.test/b" || apps[1].WebhookSecret != "sec" {
				t.Errorf("apps: %+v %v", apps, err)
			}
			if _, err := db.GetApp(ctx, "nope"); !errors.Is(err, ErrNoRows) {
				t.Errorf("GetApp(nope): %v", err)
			}
			if ok, _ := db.UpdateApp(ctx, App{Name: "nope"}); ok {
				t.Error("updated an unknown app")
			}
			// Tokens.
			db.AddDeployToken(ctx, "web", "h1", 1)
			db.AddDeployToken(ctx, "web", "h2", 1)
			db.AddDeployToken(ctx, "api", "h3", 1)
			hs, err := db.DeployTokenHashes(ctx, "web")
			if err != nil || !cmp.Equal(hs, []string{"h1", "h2"}) {
				t.Errorf("hashes: %v %v", hs, err)
			}
			all, _ := db.AllDeployTokenHashes(ctx)
			if len(all) != 3 || all[0].App != "api" {
				t.Errorf("all hashes: %v", all)
			}
			// Lease.
			if ok, _ := db.AcquireLease(ctx, "web", 1, 100, 200); !ok {
				t.Error("a free lease was not taken")
			}
			if ok, _ := db.AcquireLease(ctx, "web", 2, 150, 250); ok {
				t.Error("a held lease was taken")
			}
			if ok, _ := db.AcquireLease(ctx, "web", 1, 150, 300); !ok {
				t.Error("the holder could not take its lease again")
			}
			if ok, _ := db.RenewLease(ctx, "web", 2, 999); ok {
				t.Error("a non-holder renewed the lease")
			}
			if ok, _ := db.AcquireLease(ctx, "web", 2, 301, 400); !ok {
				t.Error("an expired lease was not taken")
			}
			db.ReleaseLease(ctx, "web", 1) // not the holder: nothing
			if b, u, _ := db.Lease(ctx, "web"); b != 2 || u != 400 {
				t.Errorf("lease %d until %d", b, u)
			}
			db.ReleaseLease(ctx, "web", 2)
			if b, _, _ := db.Lease(ctx, "web"); b != 0 {
				t.Errorf("lease %d after release", b)
			}
			// Delete takes everything of the app along.
			id, _ := db.InsertBuild(ctx, Build{App: "web", Status: "queued", Trigger: "api", Created: 1})
			db.PutSource(ctx, id, []byte("tar"))
			db.Tx(ctx, func(tx *Tx) error { _, err := tx.AppendLog(ctx, id, []byte("x")); return err })
			if ok, err := db.DeleteApp(ctx, "web"); !ok || err != nil {
				t.Fatal(ok, err)
			}
			if ok, _ := db.DeleteApp(ctx, "web"); ok {
				t.Error("deleted twice")
			}
			if _, err := db.GetBuild(ctx, id); !errors.Is(err, ErrNoRows) {
				t.Errorf("build of a deleted app: %v", err)
			}
			if _, err := db.GetSource(ctx, id); !errors.Is(err, ErrNoRows) {
				t.Errorf("source of a deleted app: %v", err)
			}
			if hs, _ := db.DeployTokenHashes(ctx, "web"); len(hs) != 0 {
				t.Errorf("tokens of a deleted app: %v", hs)
			}
			if data, _ := db.ReadLog(ctx, id, 0, 100); len(data) != 0 {
				t.Errorf("log of a deleted app: %q", data)
			}
		})
	}
}

func TestBuilds(t *testing.T) {
	ctx := context.Background()
	for name, db := range testDBs(t) {
		t.Run(name, func(t *testing.T) {
			db.CreateApp(ctx, App{Name: "web", Image: "r.test/web", Created: 1})
			id, err := db.InsertBuild(ctx, Build{App: "web", Status: "queued", Trigger: "push", GitURL: "https://g.test/r", Ref: "main", Created: 5})
			if err != nil {
				t.Fatal(err)
			}
			id2, _ := db.InsertBuild(ctx, Build{App: "web", Status: "queued", Trigger: "api", Created: 6})
			if err := db.SetJob(ctx, id, 77); err != nil {
				t.Fatal(err)
			}
			b, err := db.GetBuild(ctx, id)
			want := Build{ID: id, App: "web", Status: "queued", Trigger: "push", GitURL: "https://g.test/r", Ref: "main", Phases: "[]", Created: 5, Attempt: 1, JobID: 77}
			if err != nil || !cmp.Equal(b, want) {
				t.Errorf("build: %v\n%s", err, cmp.Diff(want, b))
			}
			if q, _ := db.QueuedBuilds(ctx, "web"); len(q) != 2 {
				t.Errorf("queued: %v", q)
			}
			if ok, _ := db.MarkRunning(ctx, id, 78, "r1", "w", 10); ok {
				t.Error("started for another job")
			}
			if ok, _ := db.MarkRunning(ctx, id, 77, "r1", "w", 10); !ok {
				t.Fatal("not started")
			}
			if ok, _ := db.MarkRunning(ctx, id, 77, "r2", "w", 10); ok {
				t.Error("started twice")
			}
			if alive, cancel, err := db.Heartbeat(ctx, id, "r1", 20); !alive || cancel || err != nil {
				t.Errorf("heartbeat: %v %v %v", alive, cancel, err)
			}
			if alive, _, _ := db.Heartbeat(ctx, id, "other", 20); alive {
				t.Error("heartbeat of another run")
			}
			if stale, _ := db.StaleBuilds(ctx, 21); len(stale) != 1 || stale[0].ID != id {
				t.Errorf("stale: %v", stale)
			}
			if stale, _ := db.StaleBuilds(ctx, 20); len(stale) != 0 {
				t.Errorf("stale at the heartbeat: %v", stale)
			}
			if ok, _ := db.RequestCancel(ctx, id2); ok {
				t.Error("cancel requested of a queued build")
			}
			db.RequestCancel(ctx, id)
			if alive, cancel, _ := db.RunState(ctx, id, "r1"); !alive || !cancel {
				t.Errorf("run state: %v %v", alive, cancel)
			}
			if alive, cancel, err := db.Heartbeat(ctx, id, "r1", 20); !alive || !cancel || err != nil {
				t.Errorf("heartbeat after a cancel request: %v %v %v", alive, cancel, err)
			}
			if newer, _ := db.HasNewer(ctx, "web", id); !newer {
				t.Error("HasNewer")
			}
			if newer, _ := db.HasNewer(ctx, "web", id2); newer {
				t.Error("HasNewer of the newest")
			}
			if ok, _ := db.Requeue(ctx, id, "r1", 2, 79); !ok {
				t.Fatal("not re-queued")
			}
			b, _ = db.GetBuild(ctx, id)
			if b.Status != "queued" || b.Attempt != 2 || b.JobID != 79 || b.RunID != "" || b.CancelRequested {
				t.Errorf("re-queued: %+v", b)
			}
			db.MarkRunning(ctx, id, 79, "r3", "w", 30)
			f := Final{Status: "succeeded", Image: "r.test/web:latest", Digest: "sha256:1", Phases: `[{"name":"build"}]`, Finished: 40}
			if ok, _ := db.Finish(ctx, id, "r1", f); ok {
				t.Error("finished by a stale run")
			}
			if ok, _ := db.Finish(ctx, id, "r3", f); !ok {
				t.Fatal("not finished")
			}
			b, _ = db.GetBuild(ctx, id)
			if b.Status != "succeeded" || b.Digest != "sha256:1" || b.Phases != `[{"name":"build"}]` || b.Finished != 40 {
				t.Errorf("finished: %+v", b)
			}
			if ok, _ := db.EndQueued(ctx, id, "canceled", "", 50); ok {
				t.Error("ended a finished build")
			}
			if ok, _ := db.EndQueued(ctx, id2, "superseded", "newer", 50); !ok {
				t.Error("queued build not ended")
			}
			db.SetCommit(ctx, id, "abc")
			list, _ := db.ListBuilds(ctx, "web", 1)
			if len(list) != 1 || list[0].ID != id2 {
				t.Errorf("list: %+v", list)
			}
			// Sources.
			data := bytes.Repeat([]byte{0, 1, 2, 255}, 1000)
			db.PutSource(ctx, id2, data)
			if got, err := db.GetSource(ctx, id2); err != nil || !bytes.Equal(got, data) {
				t.Errorf("source: %v", err)
			}
			db.DeleteSource(ctx, id2)
			if _, err := db.GetSource(ctx, id2); !errors.Is(err, ErrNoRows) {
				t.Errorf("deleted source: %v", err)
			}
		})
	}
}

func TestLog(t *testing.T) {
	ctx := context.Background()
	for name, db := range testDBs(t) {
		t.Run(name, func(t *testing.T) {
			db.CreateApp(ctx, App{Name: "web", Image: "r.test/web", Created: 1})
			id, _ := db.InsertBuild(ctx, Build{App: "web", Status: "running", Trigger: "api", Created: 1})
			var all []byte
			for _, part := range [][]byte{[]byte("hello\n"), bytes.Repeat([]byte("x"), MaxChunk+100), []byte("end\n")} {
				err := db.Tx(ctx, func(tx *Tx) error {
					size, err := tx.AppendLog(ctx, id, part)
					all = append(all, part...)
					if size != int64(len(all)) {
						t.Errorf("size %d, want %d", size, len(all))
					}
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			for _, from := range []int64{0, 3, 6, MaxChunk, int64(len(all)) - 2, int64(len(all))} {
				var got []byte
				for off := from; off < int64(len(all)); {
					data, err := db.ReadLog(ctx, id, off, 1000)
					if err != nil || len(data) == 0 {
						t.Fatalf("ReadLog(%d): %v", off, err)
					}
					got = append(got, data...)
					off += int64(len(data))
				}
				if !bytes.Equal(got, all[from:]) {
					t.Errorf("from %d: read %d bytes, want %d", from, len(got), len(all)-int(from))
				}
			}
			b, _ := db.GetBuild(ctx, id)
			if b.LogSize != int64(len(all)) {
				t.Errorf("log size %d", b.LogSize)
			}
			// A failed transaction leaves neither chunk nor size.
			db.Tx(ctx, func(tx *Tx) error {
				tx.AppendLog(ctx, id, []byte("lost"))
				return errors.New("rolled back")
			})
			if b2, _ := db.GetBuild(ctx, id); b2.LogSize != b.LogSize {
				t.Errorf("a rolled-back append moved the size to %d", b2.LogSize)
			}
			if data, _ := db.ReadLog(ctx, id, b.LogSize, 100); len(data) != 0 {
				t.Errorf("a rolled-back append left %q", data)
			}
		})
	}
}

func TestRebind(t *testing.T) {
	if got := (Q{d: Postgres}).rebind("a = ? AND b IN (?, ?)"); got != "a = $1 AND b IN ($2, $3)" {
		t.Error(got)
	}
	if got := (Q{d: SQLite}).rebind("a = ?"); got != "a = ?" {
		t.Error(got)
	}
}

// TestAppSources: an app that asks to be rebuilt when its builder changes
// keeps the source of its last successful build (a tarball, or a git URL
// without credentials), replaced by the next one and gone with the app.
func TestAppSources(t *testing.T) {
	ctx := context.Background()
	for name, db := range testDBs(t) {
		t.Run(name, func(t *testing.T) {
			a := App{Name: "keep", Image: "r.test/keep", Created: 1, RebuildOnBuilderChange: true}
			if ok, err := db.CreateApp(ctx, a); !ok || err != nil {
				t.Fatalf("CreateApp: %v %v", ok, err)
			}
			got, err := db.GetApp(ctx, "keep")
			if err != nil || !got.RebuildOnBuilderChange {
				t.Fatalf("GetApp: %+v %v", got, err)
			}
			if _, err := db.GetAppSource(ctx, "keep"); !errors.Is(err, ErrNoRows) {
				t.Fatalf("no source kept yet: %v", err)
			}
			id1, _ := db.InsertBuild(ctx, Build{App: "keep", Status: StatusQueued, Trigger: "api", Created: 1})
			if err := db.PutSource(ctx, id1, []byte("tarball-1")); err != nil {
				t.Fatal(err)
			}
			if err := db.KeepAppSource(ctx, Build{ID: id1, App: "keep"}); err != nil {
				t.Fatal(err)
			}
			src, err := db.GetAppSource(ctx, "keep")
			if err != nil || string(src.Data) != "tarball-1" || src.BuildID != id1 {
				t.Fatalf("kept source %+v %v", src, err)
			}
			id2, _ := db.InsertBuild(ctx, Build{App: "keep", Status: StatusQueued, Trigger: "webhook", Created: 2,
				GitURL: "https://git.example/app.git", Ref: "refs/heads/main", Commit: "abc"})
			if err := db.KeepAppSource(ctx, Build{ID: id2, App: "keep", GitURL: "https://git.example/app.git", Ref: "refs/heads/main", Commit: "abc"}); err != nil {
				t.Fatal(err)
			}
			src, err = db.GetAppSource(ctx, "keep")
			if err != nil || src.Data != nil || src.GitURL != "https://git.example/app.git" || src.Commit != "abc" || src.BuildID != id2 {
				t.Fatalf("kept git source %+v %v", src, err)
			}
			a.RebuildOnBuilderChange = false
			if ok, err := db.UpdateApp(ctx, a); !ok || err != nil {
				t.Fatal(err)
			}
			if got, _ := db.GetApp(ctx, "keep"); got.RebuildOnBuilderChange {
				t.Error("UpdateApp did not turn the flag off")
			}
			if ok, err := db.DeleteApp(ctx, "keep"); !ok || err != nil {
				t.Fatal(err)
			}
			if _, err := db.GetAppSource(ctx, "keep"); !errors.Is(err, ErrNoRows) {
				t.Errorf("the kept source outlived its app: %v", err)
			}
		})
	}
}

// TestLockApp: a second transaction locking an app waits for the first
// to end, so two processes cannot both decide nothing is queued.
func TestLockApp(t *testing.T) {
	ctx := context.Background()
	for name, db := range testDBs(t) {
		t.Run(name, func(t *testing.T) {
			if ok, err := db.CreateApp(ctx, App{Name: "web", Image: "r.test/web", Created: 1}); !ok || err != nil {
				t.Fatal(ok, err)
			}
			if err := db.Tx(ctx, func(tx *Tx) error { return tx.LockApp(ctx, "nope") }); !errors.Is(err, ErrNoRows) {
				t.Errorf("LockApp of an unknown app: %v, want ErrNoRows", err)
			}
			locked, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			defer once.Do(func() { close(release) }) // a failing test must not leave the first hanging
			var mu sync.Mutex                        // the database orders the two; the race detector sees only Go's locks
			var order []string
			note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
			first := make(chan error, 1)
			go func() {
				first <- db.Tx(ctx, func(tx *Tx) error {
					if err := tx.LockApp(ctx, "web"); err != nil {
						return err
					}
					close(locked)
					<-release
					note("first ends")
					return nil
				})
			}()
			<-locked
			second := make(chan error, 1)
			go func() {
				second <- db.Tx(ctx, func(tx *Tx) error {
					if err := tx.LockApp(ctx, "web"); err != nil {
						return err
					}
					note("second holds")
					return nil
				})
			}()
			select {
			case err := <-second:
				t.Fatalf("the second transaction ended (%v) while the first held the app", err)
			case <-time.After(300 * time.Millisecond):
			}
			once.Do(func() { close(release) })
			if err := <-first; err != nil {
				t.Fatal(err)
			}
			if err := <-second; err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff([]string{"first ends", "second holds"}, order); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
		})
	}
}

// TestHasSucceeded: an app's one success is found behind any number of
// failures after it.
func TestHasSucceeded(t *testing.T) {
	ctx := context.Background()
	for name, db := range testDBs(t) {
		t.Run(name, func(t *testing.T) {
			db.CreateApp(ctx, App{Name: "web", Image: "r.test/web", Created: 1})
			if ok, err := db.HasSucceeded(ctx, "web"); ok || err != nil {
				t.Fatalf("no builds: %v %v", ok, err)
			}
			for i, status := range append([]string{"succeeded"}, func() []string {
				var f []string
				for range 60 {
					f = append(f, "failed")
				}
				return f
			}()...) {
				if _, err := db.InsertBuild(ctx, Build{App: "web", Status: status, Trigger: "push", Created: int64(i)}); err != nil {
					t.Fatal(err)
				}
			}
			if ok, err := db.HasSucceeded(ctx, "web"); !ok || err != nil {
				t.Errorf("one success behind 60 failures: %v %v", ok, err)
			}
			if ok, err := db.HasSucceeded(ctx, "other"); ok || err != nil {
				t.Errorf("unknown app: %v %v", ok, err)
			}
		})
	}
}
