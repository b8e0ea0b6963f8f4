package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestLimitsResources(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	u64 := func(v uint64) *uint64 { return &v }
	tests := []struct {
		name   string
		limits Limits
		swap   bool
		want   *specs.LinuxResources
	}{{
		name: "defaults",
		swap: true,
		want: &specs.LinuxResources{
			Pids:   &specs.LinuxPids{Limit: i64(DefaultPidsLimit)},
			Memory: &specs.LinuxMemory{Limit: i64(DefaultMemory()), Swap: i64(DefaultMemory())},
		},
	}, {
		name:   "all set, no swap accounting",
		limits: Limits{PidsLimit: 64, Memory: 1 << 30, CPUs: 1.5},
		want: &specs.LinuxResources{
			Pids:   &specs.LinuxPids{Limit: i64(64)},
			Memory: &specs.LinuxMemory{Limit: i64(1 << 30)},
			CPU:    &specs.LinuxCPU{Quota: i64(150000), Period: u64(100000)},
		},
	}, {
		name:   "negative means none; a tiny CPU share gets the kernel's minimum quota",
		limits: Limits{PidsLimit: -1, Memory: -1, CPUs: 0.001},
		swap:   true,
		want:   &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(1000), Period: u64(100000)}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.limits.resources(tt.swap)); diff != "" {
				t.Errorf("resources (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaultLimits(t *testing.T) {
	l := DefaultLimits()
	if l.PidsLimit != DefaultPidsLimit || l.CPUs != 0 {
		t.Errorf("DefaultLimits = %+v", l)
	}
	if l.Memory <= 0 || l.Memory > MaxDefaultMemory {
		t.Errorf("default memory %d, want up to %d", l.Memory, MaxDefaultMemory)
	}
}

func TestBuildSpecConfinement(t *testing.T) {
	c := Config{RootFS: "/rootfs", Args: []string{"/bin/true"}, Network: NetworkHost}
	m := specMode{ids: &IDRange{uidBase: 1 << 31, gidBase: 1 << 31}, cgroupsPath: "/kiln/kiln-1"}
	s := buildSpec(&c, m)
	if !hasNamespace(s, specs.UserNamespace) || len(s.Linux.UIDMappings) != 1 || len(s.Linux.GIDMappings) != 1 {
		t.Errorf("no user namespace: %+v", s.Linux)
	}
	if s.Linux.CgroupsPath != "/kiln/kiln-1" || s.Linux.Resources == nil || s.Linux.Resources.Pids == nil {
		t.Errorf("cgroup %q, resources %+v", s.Linux.CgroupsPath, s.Linux.Resources)
	}
	for _, mnt := range s.Mounts {
		// The host's network namespace is not the user namespace's.
		if mnt.Destination == "/sys" && mnt.Type != "bind" {
			t.Errorf("/sys is %s with the host's network in a user namespace", mnt.Type)
		}
	}
	c.Network = NetworkNone
	for _, mnt := range buildSpec(&c, m).Mounts {
		if mnt.Destination == "/sys" && mnt.Type != "sysfs" {
			t.Errorf("/sys is %s with the container's own network", mnt.Type)
		}
	}
	rootless := buildSpec(&c, specMode{userNS: true})
	if hasNamespace(rootless, specs.UserNamespace) || rootless.Linux.Resources != nil || rootless.Linux.CgroupsPath != "" {
		t.Errorf("rootless spec has a user namespace or cgroup settings: %+v", rootless.Linux)
	}
}

// TestLimitsForkBomb: with 64 pids, most of 5000 starts fail and a shell's
// fork bomb ends.
func TestLimitsForkBomb(t *testing.T) {
	requireRuntime(t)
	dirs := newTestDirs(t, testUID, testGID)
	assertNoCgroups := trackContainers(t, dirs.state)
	cfg := hostConfig(t, dirs)
	cfg.PidsLimit = 64
	cfg.Env = append(cfg.Env, "GOMAXPROCS=1")
	cfg.Args = []string{escapeBin, "forks", "5000"}
	out := runClean(t, cfg)
	var started, failed int
	if _, err := fmt.Sscanf(out, "started %d failed %d", &started, &failed); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	t.Logf("with 64 pids: %d sleeps started, %d failed", started, failed)
	if started >= 64 || failed < 4900 {
		t.Errorf("started %d, failed %d: want fewer than 64 started", started, failed)
	}

	cfg.Args = []string{"/bin/bash", "-c", "for i in $(seq 5000); do sleep 30 & done; echo all started"}
	var stdout, stderr bytes.Buffer
	cfg.Stdout, cfg.Stderr = &stdout, &stderr
	start := time.Now()
	code, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if code == 0 || strings.Contains(stdout.String(), "all started") || !strings.Contains(stderr.String(), "fork: Resource temporarily unavailable") {
		t.Errorf("fork bomb: exit code %d after %v, stdout %q, stderr %q", code, time.Since(start), stdout.String(), stderr.String())
	}
	assertNoCgroups()
}

func TestLimitsMemory(t *testing.T) {
	requireRuntime(t)
	dirs := newTestDirs(t, testUID, testGID)
	assertNoCgroups := trackContainers(t, dirs.state)
	cfg := hostConfig(t, dirs)
	cfg.Memory = 64 << 20
	cfg.Args = []string{escapeBin, "alloc", "16"}
	if got := runClean(t, cfg); got != "allocated\n" {
		t.Errorf("16 MiB under a 64 MiB cap: %q", got)
	}
	cfg.Args = []string{escapeBin, "alloc", "256"}
	var stdout bytes.Buffer
	cfg.Stdout = &stdout
	code, err := Run(context.Background(), cfg)
	if err != nil || code != 137 || stdout.Len() != 0 {
		t.Errorf("256 MiB under a 64 MiB cap: Run = %d, %v, stdout %q; want 137 (OOM-killed)", code, err, stdout.String())
	}
	assertNoCgroups()
}

// TestLimitsApplied reads the container's cgroup while it runs, then
// cancels it: the limits are set, and nothing is left behind.
func TestLimitsApplied(t *testing.T) {
	cfg, dirs, token := sleepConfig(t)
	assertNoCgroups := trackContainers(t, dirs.state)
	cfg.Limits = Limits{PidsLimit: 100, Memory: 512 << 20, CPUs: 0.5}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got map[string]string
	var stdout bytes.Buffer
	cfg.Stdout = &watchWriter{buf: &stdout, token: token, hit: func() {
		got = readCgroupLimits(t, dirs.state)
		cancel()
	}}
	if _, err := Run(ctx, cfg); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	want := map[string]string{"pids": "100", "memory": "536870912", "cpu": "50000 100000"}
	if swapLimitable() {
		want["memory+swap"] = "536870912"
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cgroup limits (-want +got):\n%s", diff)
	}
	assertNoCgroups()
	assertEmptyDir(t, dirs.state)
}

// TestLimitsTimeout: a run whose deadline passes leaves no cgroup and no
// runtime state.
func TestLimitsTimeout(t *testing.T) {
	cfg, dirs, _ := sleepConfig(t)
	assertNoCgroups := trackContainers(t, dirs.state)
	// Long enough for the container to start on a loaded machine: the
	// test checks it ran (trackContainers) and was torn down.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := Run(ctx, cfg); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run = %v, want context.DeadlineExceeded", err)
	}
	assertNoCgroups()
	assertEmptyDir(t, dirs.state)
}

// TestRootlessWarnsOfLimits: rootless, Run applies no limits and says so.
func TestRootlessWarnsOfLimits(t *testing.T) {
	requireRuntime(t)
	dirs := newTestDirs(t, nobody, nobody)
	cfg := rootlessConfig(t, dirs)
	cfg.Args = []string{"/bin/probe", "id"}
	resp := runRootless(t, helperRequest{Config: cfg})
	if resp.Err != "" || resp.Exit != 0 {
		t.Fatalf("Run = %d, %q (stderr %q)", resp.Exit, resp.Err, resp.Stderr)
	}
	if diff := cmp.Diff([]string{rootlessLimitsNotice}, resp.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

// cgroupDirs are where the runtime puts kiln's containers' cgroups.
func cgroupDirs() []string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return []string{"/sys/fs/cgroup" + cgroupParent}
	}
	var out []string
	for _, c := range []string{"pids", "memory", "cpu"} {
		out = append(out, filepath.Join("/sys/fs/cgroup", c, cgroupParent))
	}
	return out
}

// trackContainers notes the containers the runtime keeps state for in
// stateDir (a test's own) until the returned function is called; that
// function checks that none of them left a cgroup behind. Other tests'
// containers, which may run at the same time, are not looked at.
func trackContainers(t *testing.T, stateDir string) (assertNoCgroups func()) {
	t.Helper()
	seen := map[string]bool{}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			ents, _ := os.ReadDir(stateDir)
			for _, e := range ents {
				seen[e.Name()] = true
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return func() {
		t.Helper()
		close(stop)
		<-done
		if len(seen) == 0 {
			t.Fatalf("no container seen in %s", stateDir)
		}
		for id := range seen {
			for _, d := range cgroupDirs() {
				if _, err := os.Stat(filepath.Join(d, id)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("cgroup of %s left behind in %s (%v)", id, d, err)
				}
			}
		}
	}
}

// readCgroupLimits reads the limits of the running container whose state
// is in stateDir. It may run outside the test's goroutine.
func readCgroupLimits(t *testing.T, stateDir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(stateDir)
	if err != nil || len(ents) != 1 {
		t.Errorf("want one container in %s: %v %v", stateDir, ents, err) // not Fatal: called from Run's output goroutine
		return nil
	}
	id := ents[0].Name()
	got := map[string]string{}
	read := func(key, dir, file string) {
		b, err := os.ReadFile(filepath.Join(dir, id, file))
		if err != nil {
			t.Errorf("%s: %v", key, err)
			return
		}
		got[key] = strings.TrimSpace(got[key] + " " + strings.TrimSpace(string(b)))
	}
	dirs := cgroupDirs()
	if len(dirs) == 1 { // v2
		read("pids", dirs[0], "pids.max")
		read("memory", dirs[0], "memory.max")
		read("cpu", dirs[0], "cpu.max")
		if swapLimitable() {
			got["memory+swap"] = got["memory"] // v2 shows swap alone, 0
		}
		return got
	}
	read("pids", dirs[0], "pids.max")
	read("memory", dirs[1], "memory.limit_in_bytes")
	if swapLimitable() {
		read("memory+swap", dirs[1], "memory.memsw.limit_in_bytes")
	}
	read("cpu", dirs[2], "cpu.cfs_quota_us")
	read("cpu", dirs[2], "cpu.cfs_period_us")
	return got
}
