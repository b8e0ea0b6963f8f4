//go:build acceptance

package acceptance

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/service"
)

// startPostgres runs Debian's PostgreSQL 15 (initdb and pg_ctl as the
// unprivileged user postgres: initdb refuses root) in a temp dir on a
// free port, and returns a URL of its database.
func startPostgres(t *testing.T) string {
	t.Helper()
	bin := "/usr/lib/postgresql/15/bin"
	if _, err := os.Stat(filepath.Join(bin, "initdb")); err != nil {
		t.Fatalf("PostgreSQL 15 is not installed (make deps installs postgresql): %v", err)
	}
	pgUser, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("no postgres user (make deps installs postgresql): %v", err)
	}
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	dir, err := os.MkdirTemp("", "kiln-pg-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	os.Chown(dir, uid, gid)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	as := func(args ...string) {
		t.Helper()
		out, err := exec.Command("runuser", append([]string{"-u", "postgres", "--"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	data := filepath.Join(dir, "data")
	as(filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "kiln", "--no-sync")
	as(filepath.Join(bin, "pg_ctl"), "-D", data, "-l", filepath.Join(dir, "log"), "-w", "-o",
		fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", port, dir), "start")
	t.Cleanup(func() {
		exec.Command("runuser", "-u", "postgres", "--", filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "stop").Run()
		os.RemoveAll(dir)
	})
	return fmt.Sprintf("postgres://kiln@127.0.0.1:%d/postgres?sslmode=disable", port)
}

// TestServePostgres: on PostgreSQL, an HTTP-only kiln serve and two pure
// workers (--no-http) share one queue: builds of three apps are drained by
// both workers, and a kill -9 of the worker running a build ends with the
// build finished by the other as its second attempt.
func TestServePostgres(t *testing.T) {
	db := startPostgres(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "admin-token")
	prefix := env.reg.Host + "/serve-pg"
	common := []string{"--database", db, "--registry-prefix", prefix, "--heartbeat", "1s", "--stale-after", "5s"}
	api := startServe(t, tokenFile, nil, append([]string{"--listen", freeAddr(t), "--data", filepath.Join(dir, "api"), "--workers", "0"}, common...)...)
	workers := map[string]*kserve{}
	for _, name := range []string{"w1", "w2"} {
		w := startServe(t, tokenFile, []string{"KILN_CACHE=" + filepath.Join(dir, name, "cache")},
			append([]string{"--no-http", "--data", filepath.Join(dir, name)}, common...)...)
		w.url, w.token = api.url, api.token
		host, _ := os.Hostname()
		workers[fmt.Sprintf("%s:%d", host, w.cmd.Process.Pid)] = w
	}
	src := tarGz(t, appSource(t))

	// Three apps' builds, drained by both workers.
	var ids []int64
	for _, app := range []string{"pg-a", "pg-b", "pg-c"} {
		api.mustCall("POST", "/api/apps", map[string]any{"name": app, "builder": env.builder}, nil)
		ids = append(ids, api.start(app, src).ID)
	}
	ran := map[string]int{}
	for _, id := range ids {
		b := api.waitFinal(id)
		if b.Status != service.StatusSucceeded {
			t.Errorf("build %d: %+v\n%s", id, b, api.log(id))
		}
		ran[b.Worker]++
	}
	t.Logf("builds per worker: %v", ran)
	for name := range workers {
		if ran[name] == 0 {
			t.Errorf("worker %s ran none of the builds: %v", name, ran)
		}
	}

	// kill -9 of the worker running a build: the other finishes it.
	api.mustCall("PATCH", "/api/apps/pg-a", map[string]any{"env": map[string]string{"SLEEP_BUILD": "15"}}, nil)
	b := api.start("pg-a", src)
	api.waitBuild(b.ID, 3*time.Minute, "sleeping", func(service.Build) bool { return strings.Contains(api.log(b.ID), "app: sleeping") })
	running := api.build(b.ID)
	victim, ok := workers[running.Worker]
	if !ok {
		t.Fatalf("build %d runs on %q, not on a test worker", b.ID, running.Worker)
	}
	victim.kill9()
	killedAt := time.Now()
	final := api.waitFinal(b.ID)
	t.Logf("the build ended %s after the kill: %s attempt %d on %s", time.Since(killedAt).Round(time.Second), final.Status, final.Attempt, final.Worker)
	if final.Status != service.StatusSucceeded || final.Attempt != 2 || final.Worker == running.Worker {
		t.Errorf("the killed worker's build ended %+v", final)
	}
	wantContains(t, api.log(b.ID), "was lost: no heartbeat for 5s; re-queued as attempt 2 of 2")
}
