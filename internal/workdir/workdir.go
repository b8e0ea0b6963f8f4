package workdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kiln-build/kiln/internal/flock"
)

const (
	// prefix starts every work dir's name.
	prefix = "build-"
	// lockName is the lock file in each work dir.
	lockName = ".lock"
	// lockless is how old a work dir without a lock file must be to count
	// as left behind: one made by a kiln from before work dirs had locks,
	// or by one killed between making the dir and its lock.
	lockless = 10 * time.Minute
)

// Option configures Create and Clean.
type Option func(*options)

type options struct {
	beforeRemove func(dir string) error
	onRemove     func(dir string, size int64, err error)
}

// BeforeRemove has f called with each work dir left behind, while it is
// locked and before it is removed; an error from f leaves the dir for a
// later Clean.
func BeforeRemove(f func(dir string) error) Option {
	return func(o *options) { o.beforeRemove = f }
}

// OnRemove has f told of each work dir left behind that was removed (err
// nil) or could not be, with the disk space removing it frees or would
// free (measured after BeforeRemove's hook took out what it keeps).
func OnRemove(f func(dir string, size int64, err error)) Option {
	return func(o *options) { o.onRemove = f }
}

// Create removes the work dirs under root that killed builds left (see
// Clean), then makes a new one and locks it. release removes the dir and
// drops the lock; until then no Create or Clean touches it.
func Create(root string, opts ...Option) (dir string, release func() error, err error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", nil, fmt.Errorf("creating work dir: %w", err)
	}
	// Cleaning is best effort: what stays is tried again next time. Sizes
	// are measured only for a caller that is told them.
	o := newOptions(opts)
	clean(root, &o, o.onRemove != nil)
	dir, err = os.MkdirTemp(root, prefix)
	if err != nil {
		return "", nil, fmt.Errorf("creating work dir: %w", err)
	}
	lock, err := flock.TryLock(filepath.Join(dir, lockName), true)
	if err != nil {
		os.Remove(dir)
		return "", nil, fmt.Errorf("creating work dir: %w", err)
	}
	var once sync.Once
	var rerr error
	release = func() error {
		once.Do(func() {
			rerr = RemoveAll(dir)
			if err := lock.Close(); rerr == nil {
				rerr = err
			}
		})
		return rerr
	}
	return dir, release, nil
}

// Stale is a work dir Clean found left behind.
type Stale struct {
	Dir string
	// Size is the disk space removing it frees: what it took once
	// BeforeRemove's hook had run.
	Size int64
	// Err is why it stays, if it does.
	Err error
}

// Clean removes the work dirs under root whose build has ended without
// removing them (its kiln was killed): those whose lock is free, or that
// have no lock file and are older than a few minutes. Work dirs of running
// builds are never touched.
func Clean(root string, opts ...Option) []Stale {
	o := newOptions(opts)
	return clean(root, &o, true)
}

func newOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// clean is Clean; measure says whether to measure the dirs' sizes.
func clean(root string, o *options, measure bool) []Stale {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	var out []Stale
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		dir := filepath.Join(root, e.Name())
		s, ok := cleanOne(dir, o, measure)
		if !ok {
			continue
		}
		if o.onRemove != nil {
			o.onRemove(s.Dir, s.Size, s.Err)
		}
		out = append(out, s)
	}
	return out
}

// cleanOne removes dir if it was left behind; ok says it was.
func cleanOne(dir string, o *options, measure bool) (Stale, bool) {
	lock, err := flock.TryLockExisting(filepath.Join(dir, lockName), true)
	switch {
	case errors.Is(err, flock.ErrBusy):
		return Stale{}, false // a running build's
	case errors.Is(err, fs.ErrNotExist):
		fi, err := os.Lstat(dir)
		if err != nil || time.Since(fi.ModTime()) < lockless {
			return Stale{}, false // being made right now, or gone
		}
	case err != nil:
		return Stale{}, false
	default:
		defer lock.Close()
	}
	s := Stale{Dir: dir}
	if o.beforeRemove != nil {
		s.Err = o.beforeRemove(dir)
	}
	// What the hook moved out (cached layers back to their cache) is
	// not freed: measure after it.
	if measure {
		s.Size, _ = DiskUsage(dir)
	}
	if s.Err == nil {
		s.Err = RemoveAll(dir)
	}
	return s, true
}
