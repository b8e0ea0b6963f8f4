package flock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ErrBusy is returned by TryLock when another open file holds the lock.
var ErrBusy = errors.New("in use")

// pollInterval is how often Lock tries again while the lock is held.
const pollInterval = 50 * time.Millisecond

// Lock takes the lock on path (created, with its parent dir, if missing),
// exclusive or shared, waiting until it is free or ctx ends. The lock is
// held until the returned file is closed.
func Lock(ctx context.Context, path string, exclusive bool) (*os.File, error) {
	for {
		f, err := TryLock(path, exclusive)
		if !errors.Is(err, ErrBusy) {
			return f, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for lock %s: %w", path, context.Cause(ctx))
		case <-time.After(pollInterval):
		}
	}
}

// TryLock takes the lock on path without waiting; ErrBusy says another
// holder has it.
func TryLock(path string, exclusive bool) (*os.File, error) {
	for {
		f, same, err := tryLockFile(path, exclusive, open)
		if err != nil || same {
			return f, err
		}
		// The holder removed (or replaced) the file before letting go:
		// what it guarded is gone or new; lock the file there now.
	}
}

// TryLockExisting is TryLock for a lock file that must already exist: a
// missing file is fs.ErrNotExist, never created.
func TryLockExisting(path string, exclusive bool) (*os.File, error) {
	f, same, err := tryLockFile(path, exclusive, func(p string) (*os.File, error) {
		return os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	})
	if err == nil && !same {
		err = fmt.Errorf("lock %s: %w", path, os.ErrNotExist)
	}
	return f, err
}

// tryLockFile opens path with openFile and flocks it without waiting. It
// returns the file only when path still names the locked file (same);
// otherwise the file is closed.
func tryLockFile(path string, exclusive bool, openFile func(string) (*os.File, error)) (*os.File, bool, error) {
	how := syscall.LOCK_SH | syscall.LOCK_NB
	if exclusive {
		how = syscall.LOCK_EX | syscall.LOCK_NB
	}
	f, err := openFile(path)
	if err != nil {
		return nil, false, err
	}
	if err := flock(f, how); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, fmt.Errorf("lock %s: %w", path, ErrBusy)
		}
		return nil, false, fmt.Errorf("locking %s: %w", path, err)
	}
	same, err := stillNamed(f, path)
	if err != nil || !same {
		f.Close()
		return nil, false, err
	}
	return f, true, nil
}

func open(path string) (*os.File, error) {
	for attempt := 0; ; attempt++ {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o644)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, os.ErrNotExist) || attempt > 100 {
			return nil, fmt.Errorf("opening lock %s: %w", path, err)
		}
		// The dir was removed with its lock by a holder: make it again.
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("opening lock %s: %w", path, err)
		}
	}
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// stillNamed says whether path names the open file f.
func stillNamed(f *os.File, path string) (bool, error) {
	var fst, pst syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &fst); err != nil {
		return false, fmt.Errorf("locking %s: %w", path, err)
	}
	if err := syscall.Lstat(path, &pst); err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENOTDIR) {
			return false, nil
		}
		return false, fmt.Errorf("locking %s: %w", path, err)
	}
	return fst.Dev == pst.Dev && fst.Ino == pst.Ino, nil
}

// Remove deletes the lock file at path that f (from Lock or TryLock)
// holds, then releases it: waiters start over on a new file.
func Remove(f *os.File, path string) error {
	err := os.Remove(path)
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
