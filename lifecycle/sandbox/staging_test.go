package sandbox

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSweepStages: staging directories nobody holds are removed, mount
// point by mount point; held ones, fresh ones without a lock and anything
// else are kept.
func TestSweepStages(t *testing.T) {
	root := t.TempDir()
	mk := func(name string, lock bool, files ...string) string {
		dir := filepath.Join(root, name)
		if err := os.MkdirAll(dir, 0o711); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			p := filepath.Join(dir, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if filepath.Ext(f) == "" {
				if err := os.Mkdir(p, 0o755); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if lock {
			f, err := createStageLock(dir)
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
		return dir
	}
	stale := mk(stagePrefix+"stale", true, "rootfs", "m1", "m2.conf")
	held := mk(stagePrefix+"held", true, "rootfs")
	fresh := mk(stagePrefix+"fresh", false, "rootfs")
	old := mk(stagePrefix+"old", false, "rootfs")
	full := mk(stagePrefix+"full", true, "m1", "m3/inside.txt")
	other := mk("other", false)
	past := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(held, stageLockName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH); err != nil {
		t.Fatal(err)
	}

	sweepStages(root, time.Now().Add(-stageLegacyAge))
	for dir, want := range map[string]bool{stale: false, old: false, held: true, fresh: true, other: true, full: true} {
		if _, err := os.Stat(dir); (err == nil) != want {
			t.Errorf("%s: exists = %v, want %v", filepath.Base(dir), err == nil, want)
		}
	}
	// Never recursive: what is not an empty mount point stays.
	if _, err := os.Stat(filepath.Join(full, "m3", "inside.txt")); err != nil {
		t.Errorf("a sweep removed a file under a mount point: %v", err)
	}
	if _, err := os.Stat(filepath.Join(full, "m1")); err == nil {
		t.Errorf("the empty mount point m1 of an unused staging dir is left")
	}
}

// TestStagingLock: a staging dir is locked from the start, by Run and by
// the supervisor, and remove takes it all away.
func TestStagingLock(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, stagePrefix+"x")
	if err := os.Mkdir(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	lock, err := createStageLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := &staging{dir: dir, lock: lock}
	sweepStages(root, time.Now())
	if _, err := os.Stat(st.lockPath()); err != nil {
		t.Fatalf("a sweep removed a staging dir in use: %v", err)
	}
	if err := holdStageLock(st.lockPath()); err != nil {
		t.Fatal(err)
	}
	st.lock.Close() // Run ends first: the supervisor still holds it
	st.lock = nil
	sweepStages(root, time.Now())
	if _, err := os.Stat(st.lockPath()); err != nil {
		t.Fatalf("a sweep removed a staging dir the supervisor holds: %v", err)
	}
	stageLock.Close()
	stageLock = nil
	sweepStages(root, time.Now())
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("a staging dir nobody holds is left")
	}
}
