package workdir

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A child process made by TestMain's helper mode: it creates a work dir,
// says which, and waits to be killed.
func TestMain(m *testing.M) {
	if root := os.Getenv("WORKDIR_TEST_CHILD"); root != "" {
		dir, _, err := Create(root)
		if err != nil {
			os.Stderr.WriteString(err.Error())
			os.Exit(2)
		}
		os.WriteFile(filepath.Join(dir, "big"), make([]byte, 1<<20), 0o644)
		os.Stdout.WriteString(dir + "\n")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startChild runs a process holding a work dir under root and returns it
// with the dir.
func startChild(t *testing.T, root string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "WORKDIR_TEST_CHILD="+root)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	buf := make([]byte, 4096)
	n, err := out.Read(buf)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	return cmd, strings.TrimSpace(string(buf[:n]))
}

func TestCreateKeepsRunningAndRemovesKilled(t *testing.T) {
	root := t.TempDir()
	alive, aliveDir := startChild(t, root)
	killed, killedDir := startChild(t, root)
	if err := killed.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed.Wait()

	var removed []string
	dir, release, err := Create(root, OnRemove(func(d string, size int64, err error) {
		if err != nil {
			t.Errorf("removing %s: %v", d, err)
		}
		if size < 1<<20 {
			t.Errorf("size of %s: %d, want at least 1 MiB", d, size)
		}
		removed = append(removed, d)
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != killedDir {
		t.Errorf("removed %v, want just %s", removed, killedDir)
	}
	if _, err := os.Stat(killedDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the killed build's dir is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(aliveDir, "big")); err != nil {
		t.Errorf("the running build's dir was touched: %v", err)
	}
	// Neither a running build's nor our own dir goes in a later Clean.
	if got := Clean(root); len(got) != 0 {
		t.Errorf("Clean removed %v", got)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("release left %s", dir)
	}
	alive.Process.Kill()
	alive.Wait()
	if got := Clean(root); len(got) != 1 || got[0].Dir != aliveDir || got[0].Err != nil {
		t.Errorf("after the second kill Clean gave %+v", got)
	}
}

// stale makes a work dir as a killed kiln leaves it: a free lock file.
func stale(t *testing.T, root string) string {
	t.Helper()
	d, err := os.MkdirTemp(root, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, lockName), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestCleanHostileTree(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	keep := filepath.Join(outside, "keep")
	os.WriteFile(keep, []byte("x"), 0o644)
	os.Mkdir(filepath.Join(outside, "dir"), 0o755)
	os.WriteFile(filepath.Join(outside, "dir", "f"), []byte("x"), 0o644)

	d := stale(t, root)
	layers := filepath.Join(d, "layers", "bp")
	os.MkdirAll(filepath.Join(layers, "ro", "deeper"), 0o755)
	os.WriteFile(filepath.Join(layers, "ro", "deeper", "f"), []byte("x"), 0o444)
	os.Chmod(filepath.Join(layers, "ro", "deeper"), 0o500)
	os.Chmod(filepath.Join(layers, "ro"), 0o000)
	os.Symlink(keep, filepath.Join(layers, "link-to-file"))
	os.Symlink(filepath.Join(outside, "dir"), filepath.Join(layers, "link-to-dir"))
	os.Symlink("/", filepath.Join(d, "link-to-root"))
	if os.Geteuid() == 0 {
		os.WriteFile(filepath.Join(layers, "theirs"), []byte("x"), 0o600)
		os.Lchown(filepath.Join(layers, "theirs"), 4242, 4343)
		os.Lchown(layers, 4242, 4343)
	}
	got := Clean(root)
	if len(got) != 1 || got[0].Err != nil {
		t.Fatalf("Clean: %+v", got)
	}
	if _, err := os.Lstat(d); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s is still there", d)
	}
	for _, p := range []string{keep, filepath.Join(outside, "dir", "f")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("a file a link pointed to went: %v", err)
		}
	}
}

func TestCleanLockless(t *testing.T) {
	root := t.TempDir()
	fresh, _ := os.MkdirTemp(root, prefix)
	old, _ := os.MkdirTemp(root, prefix)
	long := time.Now().Add(-time.Hour)
	os.Chtimes(old, long, long)
	other := filepath.Join(root, "not-a-work-dir")
	os.Mkdir(other, 0o755)
	os.Chtimes(other, long, long)
	got := Clean(root)
	if len(got) != 1 || got[0].Dir != old {
		t.Errorf("Clean: %+v, want only %s", got, old)
	}
	for _, p := range []string{fresh, other} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s went: %v", p, err)
		}
	}
}

func TestBeforeRemoveCanKeep(t *testing.T) {
	root := t.TempDir()
	d := stale(t, root)
	busy := errors.New("busy")
	var saw string
	got := Clean(root, BeforeRemove(func(dir string) error { saw = dir; return busy }))
	if saw != d || len(got) != 1 || !errors.Is(got[0].Err, busy) {
		t.Errorf("hook saw %q, Clean gave %+v", saw, got)
	}
	if _, err := os.Stat(d); err != nil {
		t.Errorf("kept dir went: %v", err)
	}
	// The hook runs while the dir is locked: nobody else removes it then.
	Clean(root, BeforeRemove(func(dir string) error {
		if inner := Clean(root); len(inner) != 0 {
			t.Errorf("a second Clean during the hook removed %+v", inner)
		}
		return nil
	}))
	if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s is still there", d)
	}
}

func TestRemoveAllStopsAtMountPoints(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount")
	}
	d := t.TempDir()
	mnt := filepath.Join(d, "a", "mnt")
	os.MkdirAll(mnt, 0o755)
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, ""); err != nil {
		t.Skipf("mount: %v", err)
	}
	defer unix.Unmount(mnt, unix.MNT_DETACH)
	os.WriteFile(filepath.Join(mnt, "precious"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(d, "a", "other"), []byte("x"), 0o644)
	err := RemoveAll(filepath.Join(d, "a"))
	if err == nil || !strings.Contains(err.Error(), "mount point") {
		t.Errorf("RemoveAll: %v, want a mount point error", err)
	}
	if _, err := os.Stat(filepath.Join(mnt, "precious")); err != nil {
		t.Errorf("a file on the mounted file system went: %v", err)
	}
}

func TestRemoveAllMissingAndFile(t *testing.T) {
	d := t.TempDir()
	if err := RemoveAll(filepath.Join(d, "nope")); err != nil {
		t.Error(err)
	}
	f := filepath.Join(d, "f")
	os.WriteFile(f, nil, 0o644)
	if err := RemoveAll(f); err != nil {
		t.Error(err)
	}
	if err := RemoveAll("/"); err == nil {
		t.Error("RemoveAll(/) did not refuse")
	}
}

func TestDiskUsage(t *testing.T) {
	d := t.TempDir()
	os.WriteFile(filepath.Join(d, "a"), make([]byte, 64<<10), 0o644)
	os.Link(filepath.Join(d, "a"), filepath.Join(d, "a2"))
	os.Symlink("/usr", filepath.Join(d, "link"))
	n, err := DiskUsage(d)
	if err != nil {
		t.Fatal(err)
	}
	if n < 64<<10 || n >= 2*64<<10 {
		t.Errorf("DiskUsage = %d, want one copy of 64 KiB plus a little", n)
	}
	if n, err := DiskUsage(filepath.Join(d, "missing")); n != 0 || err != nil {
		t.Errorf("missing: %d, %v", n, err)
	}
}

func TestIsDigestHex(t *testing.T) {
	for name, want := range map[string]bool{
		strings.Repeat("a1", 32):        true,
		strings.Repeat("A1", 32):        false,
		strings.Repeat("a", 63):         false,
		strings.Repeat("a", 65):         false,
		strings.Repeat("g", 64):         false,
		"../" + strings.Repeat("a", 61): false,
	} {
		if got := IsDigestHex(name); got != want {
			t.Errorf("IsDigestHex(%q) = %v", name, got)
		}
	}
}

// The size Clean reports is what removing the dir frees: what the hook
// moved out (cached layers going back to their cache) is not counted.
func TestCleanSizeAfterHook(t *testing.T) {
	root, keep := t.TempDir(), t.TempDir()
	d := stale(t, root)
	os.WriteFile(filepath.Join(d, "moved"), make([]byte, 1<<20), 0o644)
	os.WriteFile(filepath.Join(d, "removed"), make([]byte, 64<<10), 0o644)
	got := Clean(root, BeforeRemove(func(dir string) error {
		return os.Rename(filepath.Join(dir, "moved"), filepath.Join(keep, "moved"))
	}))
	if len(got) != 1 || got[0].Err != nil {
		t.Fatalf("Clean: %+v", got)
	}
	if got[0].Size < 64<<10 || got[0].Size >= 1<<20 {
		t.Errorf("Size = %d, want the 64 KiB removed, not the 1 MiB moved out", got[0].Size)
	}
	if _, err := os.Stat(filepath.Join(keep, "moved")); err != nil {
		t.Errorf("what the hook moved out went: %v", err)
	}
}

// A tree deeper than the file descriptors the process may hold (a build
// can make one) is removed all the same: RemoveAll keeps a bounded number
// of directories open.
func TestRemoveAllDeepTree(t *testing.T) {
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	low := old
	low.Cur = 256
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old)
	root := filepath.Join(t.TempDir(), "deep")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	// 2,000 levels, made relative to an open dir (a path that long would
	// pass PATH_MAX), with a file and an unwritable dir on the way.
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		if err := unix.Mkdirat(fd, "d", 0o755); err != nil {
			t.Fatal(err)
		}
		if i%500 == 0 {
			f, err := unix.Openat(fd, "f", unix.O_CREAT|unix.O_WRONLY, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			unix.Close(f)
		}
		next, err := unix.Openat(fd, "d", unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if i == 1000 {
			unix.Fchmod(next, 0o500)
		}
		unix.Close(fd)
		fd = next
	}
	unix.Close(fd)
	if err := RemoveAll(root); err != nil {
		t.Fatalf("RemoveAll: %v", err)
	}
	if _, err := os.Lstat(root); !os.IsNotExist(err) {
		t.Errorf("%s is still there: %v", root, err)
	}
	if left, _ := os.ReadDir(filepath.Dir(root)); len(left) != 0 {
		t.Errorf("left beside it: %v", left)
	}
}
