package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kiln-build/kiln/internal/flock"
	"github.com/kiln-build/kiln/internal/workdir"
)

const (
	lockName = "lock"
	sizeName = "size"
)

// removeTree removes what a build wrote: no link followed, read-only dirs
// made writable first.
func removeTree(p string) error { return workdir.RemoveAll(p) }

// lock takes the cache's lock, waiting while another build holds it, and
// puts the cache in order if the last holder died. The lock file may be
// removed by Evict while we wait: flock starts over then.
func (c *Cache) takeLock(ctx context.Context) error {
	f, err := flock.Lock(ctx, c.path(lockName), true)
	if err != nil {
		return fmt.Errorf("locking cache %s: %w", c.dir, err)
	}
	c.lock = f
	touch(c.path(usedName))
	if err := c.recover(ctx); err != nil {
		if rerr := c.reset(); rerr != nil {
			f.Close()
			return fmt.Errorf("recovering cache %s: %v; and clearing it: %w", c.dir, err, rerr)
		}
	}
	return nil
}

// touch sets p's modification time to now, creating it if needed: the
// record of a cache's (or root file system's) last use.
func touch(p string) {
	now := time.Now()
	if err := os.Chtimes(p, now, now); errors.Is(err, fs.ErrNotExist) {
		if f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			f.Close()
		}
	}
}

// Reclaim prepares the removal of workDir, a work dir whose build was
// killed: every cache under root whose journal names it is put in order
// (its trees moved back, or its save finished) first. It fails with
// ErrBusy when such a cache is locked by a running build.
func Reclaim(ctx context.Context, root, workDir string) error {
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading caches %s: %w", root, err)
	}
	for _, e := range entries {
		dir := filepath.Join(root, e.Name())
		if !e.IsDir() || !journalNames(dir, workDir) {
			continue
		}
		f, err := flock.TryLockExisting(filepath.Join(dir, lockName), true)
		if errors.Is(err, flock.ErrBusy) {
			return fmt.Errorf("cache %s: %w by a running build", dir, ErrBusy)
		}
		if err != nil {
			continue // no lock file: no cache any more
		}
		c := &Cache{dir: dir, lock: f, restored: map[string]restoredLayer{}, moved: map[string]movedTree{}}
		err = c.recover(ctx)
		if err != nil {
			err = c.reset() // a miss next time, never a wrong layer
		}
		f.Close()
		if err != nil {
			return fmt.Errorf("recovering cache %s: %w", dir, err)
		}
	}
	return nil
}

// journalNames says whether the journal of the cache at dir names a
// layers dir in workDir.
func journalNames(dir, workDir string) bool {
	recs, _ := readJournal(dir)
	for _, r := range recs {
		for _, p := range []string{r.Layers, r.Layer} {
			if _, ok := below(workDir, p); ok {
				return true
			}
		}
	}
	return false
}

// Usage is one app's layer cache on disk.
type Usage struct {
	Dir string
	// Size is the disk space it takes.
	Size int64
	// LastUse is when a build last opened it.
	LastUse time.Time
}

// List returns the layer caches under root (one dir per app).
func List(root string) ([]Usage, error) {
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading caches %s: %w", root, err)
	}
	var out []Usage
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, e.Name())
		u := Usage{Dir: dir, Size: size(dir)}
		if fi, err := os.Stat(filepath.Join(dir, usedName)); err == nil {
			u.LastUse = fi.ModTime()
		} else if fi, err := os.Stat(dir); err == nil {
			u.LastUse = fi.ModTime()
		}
		out = append(out, u)
	}
	return out, nil
}

// sizeMemo remembers a cache's size for the index it was measured with.
type sizeMemo struct {
	Index string `json:"index"`
	Size  int64  `json:"size"`
}

// size is the disk space of the cache at dir, measured once per state: the
// committed index (its trees do not change under it: their fingerprints
// say so) and the times of SideDirs, which change by rename alone. A cache
// a build is using, or that a killed one left unsettled, is measured
// every time.
func size(dir string) int64 {
	key := ""
	if b, err := os.ReadFile(filepath.Join(dir, committedName, metadataName)); err == nil {
		h := sha256.New()
		h.Write(b)
		for _, n := range SideDirs {
			if fi, err := os.Lstat(filepath.Join(dir, n)); err == nil {
				fmt.Fprintf(h, "\x00%s\x00%d", n, fi.ModTime().UnixNano())
			}
		}
		key = hex.EncodeToString(h.Sum(nil))
	}
	settled := true
	for _, n := range []string{stagingName, oldName, journalName, keptName} {
		if _, err := os.Lstat(filepath.Join(dir, n)); err == nil {
			settled = false // a build is under way, or died: measure
		}
	}
	var m sizeMemo
	if b, err := os.ReadFile(filepath.Join(dir, sizeName)); settled && key != "" && err == nil &&
		json.Unmarshal(b, &m) == nil && m.Index == key {
		return m.Size
	}
	n, _ := workdir.DiskUsage(dir)
	if settled && key != "" {
		// The memo takes space too: count it as written.
		memo := filepath.Join(dir, sizeName)
		if _, err := os.Lstat(memo); errors.Is(err, fs.ErrNotExist) {
			writeSizeMemo(dir, sizeMemo{Index: key, Size: n})
			if fi, err := os.Lstat(memo); err == nil {
				if st, ok := fi.Sys().(*syscall.Stat_t); ok {
					n += st.Blocks * 512
				}
			}
		}
		writeSizeMemo(dir, sizeMemo{Index: key, Size: n})
	}
	return n
}

// SideDirs are dirs of an app's cache dir that others keep there (the
// app's kept workspace) and change only by rename of their entries, so
// their times tell when they changed.
var SideDirs = []string{"workspace"}

func writeSizeMemo(dir string, m sizeMemo) {
	b, err := json.Marshal(m)
	if err != nil {
		return
	}
	tmp := filepath.Join(dir, "."+sizeName)
	if os.WriteFile(tmp, b, 0o644) == nil {
		os.Rename(tmp, filepath.Join(dir, sizeName))
	}
}

// Evict removes the cache at dir, lock file and all, unless a build holds
// it (ErrBusy). It returns the disk space freed.
func Evict(dir string) (int64, error) {
	lockPath := filepath.Join(dir, lockName)
	f, err := flock.TryLockExisting(lockPath, true)
	switch {
	case errors.Is(err, flock.ErrBusy):
		return 0, fmt.Errorf("cache %s: %w by a running build", dir, ErrBusy)
	case errors.Is(err, fs.ErrNotExist):
		// Never locked: nothing can be using it.
	case err != nil:
		return 0, err
	default:
		defer func() {
			if f != nil {
				f.Close()
			}
		}()
	}
	freed, _ := workdir.DiskUsage(dir)
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("evicting cache %s: %w", dir, err)
	}
	var errs []error
	for _, e := range entries {
		if e.Name() == lockName {
			continue
		}
		if err := removeTree(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		left, _ := workdir.DiskUsage(dir)
		return freed - left, fmt.Errorf("evicting cache %s: %w", dir, errors.Join(errs...))
	}
	// The lock goes last, while held: a build waiting on it starts over
	// with a new one, in a new dir.
	if f != nil {
		err := flock.Remove(f, lockPath)
		f = nil
		if err != nil {
			return freed, fmt.Errorf("evicting cache %s: %w", dir, err)
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTEMPTY) {
		return freed, fmt.Errorf("evicting cache %s: %w", dir, err)
	}
	return freed, nil
}
