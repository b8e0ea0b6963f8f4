package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kiln-build/kiln/internal/flock"
)

// stageRoot holds, as root, one directory of mount points per container.
// It and its parent must be searchable by every user, so that the root of
// a container's user namespace (a host uid that owns nothing) reaches them.
const stageRoot = "/run/kiln/mnt"

// bind is one bind mount the supervisor makes in its private mount
// namespace before it starts the runtime.
type bind struct {
	Source string // the host path
	Target string // the mount point under stageRoot
}

// A staging directory holds a lock file on which Run and the supervisor
// (which may outlive Run: a second ^C, kill -9) hold shared flocks while
// they use it. One whose lock nobody holds was left by a kiln that did not
// get to clean up; the next stage removes it. One with no lock file at all
// is being made, or was left by an older kiln: removed once it is old.
const (
	stagePrefix    = "kiln-sandbox-"
	stageLockName  = ".lock"
	stageLegacyAge = 24 * time.Hour
)

// staging is a container's directory of mount points.
type staging struct {
	dir   string
	lock  *os.File // held shared until remove
	binds []bind
}

// lockPath is the path of the lock file the supervisor holds too.
func (st *staging) lockPath() string { return filepath.Join(st.dir, stageLockName) }

// stage rewrites the root file system and every bind mount source of s to
// mount points in a fresh directory under stageRoot, and returns the binds
// that fill them. As root with a user namespace the runtime mounts as the
// namespace's root, which is no host uid: it cannot search a directory such
// as /root (mode 0700) on the way to the builder's root file system or the
// build's workspace. The supervisor binds each source at its mount point in
// a mount namespace of its own, where the path to it is searchable; the
// binds vanish with the supervisor, whatever ends it.
func stage(s *specs.Spec, id string) (*staging, error) {
	if err := prepareStageRoot(); err != nil {
		return nil, err
	}
	st := &staging{dir: filepath.Join(stageRoot, id)}
	if err := os.Mkdir(st.dir, 0o711); err != nil {
		return nil, fmt.Errorf("sandbox: creating %s: %w", st.dir, err)
	}
	var err error
	if st.lock, err = createStageLock(st.dir); err != nil {
		st.remove()
		return nil, err
	}
	if s.Root.Path, err = st.add(s.Root.Path, "rootfs"); err != nil {
		st.remove()
		return nil, err
	}
	for i := range s.Mounts {
		m := &s.Mounts[i]
		if m.Type != "bind" || !filepath.IsAbs(m.Source) {
			continue
		}
		if m.Source, err = st.add(m.Source, fmt.Sprintf("m%d", i)); err != nil {
			st.remove()
			return nil, err
		}
	}
	return st, nil
}

// prepareStageRoot makes stageRoot and its parent searchable by everyone
// and sweeps what earlier kilns left there, once per process.
var prepareStageRoot = sync.OnceValue(func() error {
	for _, d := range []string{filepath.Dir(stageRoot), stageRoot} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return fmt.Errorf("sandbox: creating %s: %w", d, err)
		}
		if err := os.Chmod(d, 0o711); err != nil {
			return fmt.Errorf("sandbox: setting the mode of %s: %w", d, err)
		}
	}
	sweepStages(stageRoot, time.Now().Add(-stageLegacyAge))
	return nil
})

// add makes the mount point name for src (a directory or a file, as src
// is) and returns its path.
func (st *staging) add(src, name string) (string, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return "", fmt.Errorf("sandbox: checking mount source: %w", err)
	}
	target := filepath.Join(st.dir, name)
	if fi.IsDir() {
		err = os.Mkdir(target, 0o755)
	} else {
		var f *os.File
		if f, err = os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); err == nil {
			err = f.Close()
		}
	}
	if err != nil {
		return "", fmt.Errorf("sandbox: creating mount point %s: %w", target, err)
	}
	st.binds = append(st.binds, bind{Source: src, Target: target})
	return target, nil
}

// remove deletes the mount points one by one, never recursively: were a
// bind still mounted there, rmdir would fail instead of deleting what it
// shows.
func (st *staging) remove() {
	if st == nil {
		return
	}
	for _, b := range slices.Backward(st.binds) {
		_ = unix.Rmdir(b.Target)
		_ = unix.Unlink(b.Target)
	}
	if st.lock != nil {
		_ = unix.Unlink(st.lockPath())
	}
	_ = unix.Rmdir(st.dir)
	if st.lock != nil {
		st.lock.Close()
	}
}

// createStageLock makes dir's lock file, already locked: under another
// name first, so that a sweep never finds it unlocked.
func createStageLock(dir string) (*os.File, error) {
	tmp := filepath.Join(dir, stageLockName+".new")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sandbox: creating the lock of %s: %w", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH); err != nil {
		f.Close()
		_ = unix.Unlink(tmp)
		return nil, fmt.Errorf("sandbox: locking %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, stageLockName)); err != nil {
		f.Close()
		_ = unix.Unlink(tmp)
		return nil, fmt.Errorf("sandbox: creating the lock of %s: %w", dir, err)
	}
	return f, nil
}

// stageLock is the supervisor's hold on its staging directory, kept open
// (and so locked) until it exits.
var stageLock *os.File

// holdStageLock runs in the supervisor: it shares the lock on its staging
// directory, so that the directory outlives a Run that ends first.
func holdStageLock(p string) error {
	f, err := flock.TryLockExisting(p, false)
	if err != nil {
		return fmt.Errorf("holding the staging lock: %w", err)
	}
	stageLock = f
	return nil
}

// sweepStages removes the staging directories under root that nobody
// uses, and those without a lock file last changed before legacyBefore.
func sweepStages(root string, legacyBefore time.Time) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), stagePrefix) {
			sweepStage(filepath.Join(root, e.Name()), legacyBefore)
		}
	}
}

func sweepStage(dir string, legacyBefore time.Time) {
	f, err := flock.TryLockExisting(filepath.Join(dir, stageLockName), true)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if fi, err := os.Lstat(dir); err != nil || !fi.ModTime().Before(legacyBefore) {
			return
		}
	case err != nil:
		return // in use, or not ours to judge
	default:
		defer f.Close()
	}
	// Mount points only, one by one, never recursively (see remove).
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if e.IsDir() {
			_ = unix.Rmdir(p)
		} else {
			_ = unix.Unlink(p)
		}
	}
	_ = unix.Rmdir(dir)
}

// mountBinds runs in the supervisor, in its own mount namespace: it stops
// mounts from propagating back to the host's namespace, then makes binds.
func mountBinds(binds []bind) error {
	if len(binds) == 0 {
		return nil
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making the supervisor's mounts private: %w", err)
	}
	for _, b := range binds {
		if err := unix.Mount(b.Source, b.Target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("binding %s at %s: %w", b.Source, b.Target, err)
		}
	}
	return nil
}
