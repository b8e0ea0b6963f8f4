package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/internal/flock"
	"github.com/kiln-build/kiln/internal/progress"
	"github.com/kiln-build/kiln/internal/workdir"
)

// ErrBusy says a root file system is in use by a running kiln.
var ErrBusy = flock.ErrBusy

const (
	lockSuffix = ".lock" // <hex>.lock: shared while in use, exclusive to unpack or remove
	sizeSuffix = ".size" // <hex>.size: the disk space the tree takes
	partial    = ".unpack-"
)

// held are the locks of the trees Unpack returned: kept for the life of
// the process.
var held struct {
	sync.Mutex
	files []func()
}

// Unpack extracts img's root file system into <dir>/<digest hex> unless it
// is there already, and returns that path. The tree is built in a temp dir
// and renamed into place, so a reader never sees half of one; a lock keeps
// two kiln processes from unpacking the same image at once. The tree stays
// in use (see UnpackHeld) until the process exits.
func Unpack(ctx context.Context, img v1.Image, dir string, log io.Writer) (string, error) {
	p, release, err := UnpackHeld(ctx, img, dir, log)
	if err != nil {
		return "", err
	}
	held.Lock()
	held.files = append(held.files, release)
	held.Unlock()
	return p, nil
}

// UnpackHeld is Unpack for callers that outlive their use of the tree:
// it is in use, and so never removed by RemoveRootFS, until release is
// called. Each call records the use (the tree's mtime) for LRU eviction.
func UnpackHeld(ctx context.Context, img v1.Image, dir string, log io.Writer) (string, func(), error) {
	digest, err := img.Digest()
	if err != nil {
		return "", nil, err
	}
	dest := filepath.Join(dir, digest.Hex)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	for {
		sh, err := flock.Lock(ctx, dest+lockSuffix, false)
		if err != nil {
			return "", nil, err
		}
		if fi, err := os.Lstat(dest); err == nil && fi.IsDir() {
			now := time.Now()
			os.Chtimes(dest, now, now)
			return dest, func() { sh.Close() }, nil
		}
		sh.Close()
		if err := unpackLocked(ctx, img, dir, digest.Hex, log); err != nil {
			return "", nil, err
		}
		// Take the shared lock again: a prune may have come in between.
	}
}

// unpackLocked unpacks img into <dir>/<hex> under the exclusive lock,
// unless another process did first.
func unpackLocked(ctx context.Context, img v1.Image, dir, hex string, log io.Writer) error {
	dest := filepath.Join(dir, hex)
	ex, err := flock.Lock(ctx, dest+lockSuffix, true)
	if err != nil {
		return err
	}
	defer ex.Close()
	if _, err := os.Lstat(dest); err == nil {
		return nil
	}
	removePartial(dir, hex) // what an unpack killed midway left
	if log != nil {
		fmt.Fprintf(log, "Unpacking image sha256:%s (once; reused by later builds)\n", hex[:12])
	}
	tmp, err := os.MkdirTemp(dir, partial+hex+"-")
	if err != nil {
		return err
	}
	defer workdir.RemoveAll(tmp)
	end := progress.Track(img, nil) // layers from a registry show as a pull on a terminal
	err = archive.ExtractImage(ctx, img, tmp, archive.ExtractOptions{PreserveOwner: os.Geteuid() == 0})
	end()
	if err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if n, err := workdir.DiskUsage(tmp); err == nil {
		os.WriteFile(dest+sizeSuffix, []byte(strconv.FormatInt(n, 10)), 0o644)
	}
	if err := os.Rename(tmp, dest); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("moving unpacked image into %s: %w", dest, err)
	}
	return nil
}

// removePartial removes the temp dirs of unpacks of hex that were killed;
// the caller holds hex's exclusive lock, so none is running.
func removePartial(dir, hex string) {
	left, _ := filepath.Glob(filepath.Join(dir, partial+hex+"-*"))
	for _, p := range left {
		workdir.RemoveAll(p)
	}
}

// RootFS is one unpacked root file system.
type RootFS struct {
	Dir  string
	Size int64
	// LastUse is when a kiln last took it for a build or run.
	LastUse time.Time
}

// ListRootFS returns the root file systems unpacked under dir.
func ListRootFS(dir string) ([]RootFS, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	var out []RootFS
	for _, e := range entries {
		if !e.IsDir() || !workdir.IsDigestHex(e.Name()) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		fi, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, RootFS{Dir: p, LastUse: fi.ModTime(), Size: treeSize(p)})
	}
	return out, nil
}

// treeSize is the disk space the unpacked tree p takes: as recorded
// beside it when it was unpacked (it never changes after), else measured
// and recorded.
func treeSize(p string) int64 {
	if b, err := os.ReadFile(p + sizeSuffix); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 {
			return n
		}
	}
	n, _ := workdir.DiskUsage(p)
	os.WriteFile(p+sizeSuffix, []byte(strconv.FormatInt(n, 10)), 0o644)
	return n
}

// RemoveRootFS removes the root file system at p unless a kiln uses it
// (ErrBusy), and returns the disk space freed. Temp dirs of unpacks that
// were killed go too.
func RemoveRootFS(p string) (int64, error) {
	lock := p + lockSuffix
	f, err := flock.TryLock(lock, true)
	if err != nil {
		return 0, fmt.Errorf("root file system %s: %w", p, err)
	}
	freed := treeSize(p)
	removePartial(filepath.Dir(p), filepath.Base(p))
	if err := workdir.RemoveAll(p); err != nil {
		f.Close()
		left, _ := workdir.DiskUsage(p)
		return freed - left, err
	}
	os.Remove(p + sizeSuffix)
	return freed, flock.Remove(f, lock)
}

// CleanPartial removes the temp dirs under dir that unpacks killed
// midway left, skipping those of unpacks still running; it returns the
// disk space freed.
func CleanPartial(dir string) int64 {
	left, _ := filepath.Glob(filepath.Join(dir, partial+"*"))
	var freed int64
	for _, p := range left {
		hex, _, ok := strings.Cut(strings.TrimPrefix(filepath.Base(p), partial), "-")
		if !ok || !workdir.IsDigestHex(hex) {
			// Named by a kiln from before names said what they unpack:
			// gone for a day, it was killed.
			if fi, err := os.Lstat(p); err == nil && time.Since(fi.ModTime()) > 24*time.Hour {
				n, _ := workdir.DiskUsage(p)
				if workdir.RemoveAll(p) == nil {
					freed += n
				}
			}
			continue
		}
		f, err := flock.TryLock(filepath.Join(dir, hex+lockSuffix), true)
		if err != nil {
			continue // being unpacked
		}
		n, _ := workdir.DiskUsage(p)
		if workdir.RemoveAll(p) == nil {
			freed += n
		}
		if _, err := os.Lstat(filepath.Join(dir, hex)); errors.Is(err, fs.ErrNotExist) {
			flock.Remove(f, filepath.Join(dir, hex+lockSuffix)) // no tree: no lock
		} else {
			f.Close()
		}
	}
	return freed
}
