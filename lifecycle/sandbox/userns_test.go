package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// reserveTestIDs reserves a host id range for the test's runs.
func reserveTestIDs(t *testing.T) *IDRange {
	t.Helper()
	r, err := ReserveIDs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Release() })
	return r
}

func TestPoolRange(t *testing.T) {
	tests := []struct {
		name      string
		file      string
		wantBase  uint32
		wantSlots int
	}{
		{"no file", "", DefaultIDRangeBase, DefaultIDRangeSlots},
		{"other users only", "builder:100000:65536\n", DefaultIDRangeBase, DefaultIDRangeSlots},
		{"kiln's range", "builder:100000:65536\nkiln:300000:200000\n", 300000, 3},
		{"too small a range is skipped", "kiln:100000:1000\nkiln:400000:65536\n", 400000, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, slots := poolRange(parseSubIDs([]byte(tt.file)))
			if base != tt.wantBase || slots != tt.wantSlots {
				t.Errorf("poolRange = %d, %d; want %d, %d", base, slots, tt.wantBase, tt.wantSlots)
			}
		})
	}
}

func TestMapCovers(t *testing.T) {
	tests := []struct {
		name  string
		m     string
		base  uint32
		n     uint32
		cover bool
	}{
		{"host", "0 0 4294967295\n", 1 << 31, IDsPerRange, true},
		{"small namespace", "0 100000 65536\n", 1 << 31, IDsPerRange, false},
		{"inside a second line", "0 1000 1\n1 200000 200000\n", 100000, IDsPerRange, true},
		{"past the end", "0 0 100000\n", 50000, IDsPerRange, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mapCovers(tt.m, tt.base, tt.n); got != tt.cover {
				t.Errorf("mapCovers = %v, want %v", got, tt.cover)
			}
		})
	}
}

func TestIDRangeHostIDs(t *testing.T) {
	r := &IDRange{uidBase: 1 << 31, gidBase: 1<<31 + 1<<20}
	got := []int{r.HostUID(0), r.HostUID(1001), r.HostUID(65535), r.HostUID(65536), r.HostGID(1002)}
	want := []int{1 << 31, 1<<31 + 1001, 1<<31 + 65535, -1, 1<<31 + 1<<20 + 1002}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("host ids (-want +got):\n%s", diff)
	}
	var none *IDRange
	if none.HostUID(1001) != 1001 || none.HostGID(1002) != 1002 || none.Release() != nil {
		t.Error("a nil range is not the identity")
	}
	uids, gids := r.mappings()
	if diff := cmp.Diff([]specs.LinuxIDMapping{{ContainerID: 0, HostID: 1 << 31, Size: 65536}}, uids); diff != "" {
		t.Errorf("uid mappings (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]specs.LinuxIDMapping{{ContainerID: 0, HostID: 1<<31 + 1<<20, Size: 65536}}, gids); diff != "" {
		t.Errorf("gid mappings (-want +got):\n%s", diff)
	}
}

func TestIDRangeCheck(t *testing.T) {
	pool := idPool{uidBase: 1 << 31, gidBase: 1 << 31, slots: 1, lockDir: t.TempDir()}
	r, err := pool.reserve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "fits", cfg: Config{UID: 1001, GID: 1002, AdditionalGIDs: []uint32{65535}}},
		{name: "uid too large", cfg: Config{UID: 70000}, wantErr: "id 70000 is outside"},
		{name: "group too large", cfg: Config{AdditionalGIDs: []uint32{1 << 20}}, wantErr: "is outside"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := r.check(&tt.cfg)
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("check = %v, want error %q", err, tt.wantErr)
			}
		})
	}
	r.Release()
	if err := r.check(&Config{}); err == nil {
		t.Error("a released range passes")
	}
}

// TestReserveIDs checks the slot allocation: disjoint ranges while held,
// the lowest free slot first, and waiting when all are taken.
func TestReserveIDs(t *testing.T) {
	pool := idPool{uidBase: 1 << 31, gidBase: 1<<31 + 1<<24, slots: 3, lockDir: filepath.Join(t.TempDir(), "userns")}
	ctx := context.Background()
	reserve := func() *IDRange {
		t.Helper()
		r, err := pool.reserve(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b := reserve(), reserve()
	if a.HostUID(0) != 1<<31 || b.HostUID(0) != 1<<31+IDsPerRange || b.HostGID(0) != 1<<31+1<<24+IDsPerRange {
		t.Errorf("first two ranges: %v and %v", a, b)
	}
	if err := a.Release(); err != nil {
		t.Fatal(err)
	}
	if c := reserve(); c.HostUID(0) != a.HostUID(0) {
		t.Errorf("after releasing slot 0 got %v, want slot 0 again", c)
	}
	_ = reserve() // slot 2: all taken
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if r, err := pool.reserve(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("reserve with all slots taken = %v, %v; want a deadline error", r, err)
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		_ = b.Release()
	}()
	if r := reserve(); r.HostUID(0) != b.HostUID(0) {
		t.Errorf("waiting reservation got %v, want slot 1", r)
	}
}

func TestReserveIDsConcurrent(t *testing.T) {
	pool := idPool{uidBase: 1 << 31, gidBase: 1 << 31, slots: 8, lockDir: t.TempDir()}
	var mu sync.Mutex
	seen := map[int]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := pool.reserve(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if seen[r.HostUID(0)] {
				t.Errorf("range %v handed out twice", r)
			}
			seen[r.HostUID(0)] = true
		}()
	}
	wg.Wait()
	if len(seen) != 8 {
		t.Errorf("%d distinct ranges, want 8", len(seen))
	}
}

// TestUserNamespace runs as root: the process sees its ids mapped onto the
// build's range, and what it writes belongs to the range on the host.
func TestUserNamespace(t *testing.T) {
	requireRuntime(t)
	dirs := newTestDirs(t, testUID, testGID)
	cfg := baseConfig(t, dirs)
	cfg.Args = []string{"/bin/probe", "cat", "/proc/self/uid_map"}
	out := runClean(t, cfg)
	if diff := cmp.Diff([]string{"0", fmt.Sprint(dirs.ids.HostUID(0)), "65536"}, strings.Fields(out)); diff != "" {
		t.Errorf("uid_map (-want +got):\n%s", diff)
	}
	cfg.Args = []string{"/bin/probe", "cat", "/proc/self/gid_map"}
	if diff := cmp.Diff([]string{"0", fmt.Sprint(dirs.ids.HostGID(0)), "65536"}, strings.Fields(runClean(t, cfg))); diff != "" {
		t.Errorf("gid_map (-want +got):\n%s", diff)
	}

	cfg.Args = []string{"/bin/probe", "write", "/work/out.txt", "hello"}
	runClean(t, cfg)
	fi, err := os.Stat(filepath.Join(dirs.work, "out.txt"))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if diff := cmp.Diff([2]int{dirs.ids.HostUID(testUID), dirs.ids.HostGID(testGID)}, [2]int{int(st.Uid), int(st.Gid)}); diff != "" {
		t.Errorf("host owner of the written file (-want +got):\n%s", diff)
	}

	// Files of the host's root, like the root file system, show as nobody.
	cfg.Args = []string{"/bin/probe", "owner", "/bin/probe"}
	if got := runClean(t, cfg); got != "65534:65534\n" {
		t.Errorf("owner of the root file system's files = %q, want nobody", got)
	}
}

// TestUserNamespaceOwnRange checks that a Run without Config.IDs reserves
// the lowest free range itself and gives it back.
func TestUserNamespaceOwnRange(t *testing.T) {
	requireRuntime(t)
	free := reserveTestIDs(t) // the lowest free slot, for now
	want := fmt.Sprint(free.HostUID(0))
	if err := free.Release(); err != nil {
		t.Fatal(err)
	}
	dirs := newTestDirs(t, nobody, nobody) // nobody: no range reserved for the dirs
	cfg := baseConfig(t, dirs)
	cfg.Args = []string{"/bin/probe", "cat", "/proc/self/uid_map"}
	if f := strings.Fields(runClean(t, cfg)); len(f) != 3 || f[1] != want {
		t.Errorf("uid_map %q, want the lowest free range from %s", f, want)
	}
	// The run gave its range back: it can be reserved again. Other kiln
	// processes (make test runs the acceptance tests meanwhile) may take
	// and give back slots, so look among the lowest few free ones.
	var held []*IDRange // released by reserveTestIDs's cleanups
	for range 16 {
		r := reserveTestIDs(t)
		held = append(held, r)
		if fmt.Sprint(r.HostUID(0)) == want {
			return
		}
	}
	t.Errorf("the run kept its range from %s: the next free ones are %v", want, held)
}

// TestMakeMountPoints checks that as root a mount point missing from the
// root file system is created, with the root file system left as it was
// otherwise.
func TestMakeMountPoints(t *testing.T) {
	requireRuntime(t)
	dirs := newTestDirs(t, testUID, testGID)
	cfg := baseConfig(t, dirs)
	dst := "/" + filepath.Base(dirs.ro) + "-" + randomToken(t)
	t.Cleanup(func() { os.RemoveAll(filepath.Join(rootfs, dst)) })
	cfg.Mounts = append(cfg.Mounts, Mount{Source: dirs.ro, Destination: dst + "/dir", ReadOnly: true},
		Mount{Source: "/etc/hostname", Destination: dst + "/file", ReadOnly: true})
	cfg.Args = []string{"/bin/probe", "kind", dst + "/dir"}
	if got := runClean(t, cfg); got != "dir\n" {
		t.Errorf("kind = %q", got)
	}
	cfg.Args = []string{"/bin/probe", "kind", dst + "/file"}
	if got := runClean(t, cfg); got != "file\n" {
		t.Errorf("kind = %q", got)
	}
}

func runClean(t *testing.T, cfg Config) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cfg.Stdout, cfg.Stderr = &stdout, &stderr
	code, err := Run(context.Background(), cfg)
	if err != nil || code != 0 {
		t.Fatalf("Run %q = %d, %v (stderr %q)", cfg.Args, code, err, stderr.String())
	}
	return stdout.String()
}
