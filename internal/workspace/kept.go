package workspace

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/internal/workdir"
)

// Layout places one build's workspace and the app's kept one. All three
// must be on one file system.
type Layout struct {
	// Store is where a successful build leaves its workspace for the
	// app's next build (in the app's cache): Store/tree and
	// Store/manifest.
	Store string
	// Hold is where Store goes while a build has it, in the build's work
	// dir; it must not exist, and is never mounted into a container.
	Hold string
	// App is the workspace the build container mounts, in the work dir.
	App string
}

const (
	treeName     = "tree"
	manifestName = "manifest"
)

// Prepare fills l.App, an empty directory or none, with the source tree
// src as archive.CopyDir(ctx, src, l.App, opts) would: by syncing the
// app's kept workspace when there is one, else by that full copy. The
// kept one is taken with a single rename, so of two builds of one app
// only one gets it. A kept workspace that cannot be used is dropped
// (opts.Warn tells why) and the source copied in full. Errors name the
// source entry as CopyDir's do.
func Prepare(ctx context.Context, src string, l Layout, opts Options) (Stats, error) {
	m, err := take(l)
	if err != nil {
		warn(opts, fmt.Sprintf("%v; copying the source afresh", err))
	}
	if m != nil {
		nm, st, err := Sync(ctx, src, l.App, m, opts)
		if err == nil {
			if err := writeManifest(filepath.Join(l.Hold, manifestName), nm); err != nil {
				warn(opts, fmt.Sprintf("the workspace will not be kept: %v", err))
			}
			return st, nil
		}
		if ctx.Err() != nil {
			return st, ctx.Err()
		}
		var we *wsError
		if errors.As(err, &we) {
			warn(opts, fmt.Sprintf("%v; copying the source afresh", err))
		} // else a source problem: the full copy below says it as CopyDir does
		if err := discard(l); err != nil {
			return st, err
		}
	}
	return fullCopy(ctx, src, l, opts)
}

func warn(opts Options, msg string) {
	if opts.Warn != nil {
		opts.Warn("workspace: " + msg)
	}
}

// take moves the kept workspace to l.Hold and its tree to l.App, and
// returns its manifest; nil when there is none. A kept workspace that is
// not as Keep leaves one is removed, and the error says why.
func take(l Layout) (*Manifest, error) {
	if err := os.Rename(l.Store, l.Hold); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil // none, or another build took it
		}
		return nil, fmt.Errorf("taking the kept workspace %s: %w", l.Store, err)
	}
	m, err := openHeld(l)
	if err != nil {
		if rerr := workdir.RemoveAll(l.Hold); rerr != nil {
			err = fmt.Errorf("%w; and removing it: %v", err, rerr)
		}
		return nil, fmt.Errorf("the kept workspace is unusable: %w", err)
	}
	return m, nil
}

func openHeld(l Layout) (*Manifest, error) {
	if fi, err := os.Lstat(l.Hold); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", l.Store)
	}
	mp := filepath.Join(l.Hold, manifestName)
	m, err := readManifest(mp)
	if err != nil {
		return nil, err
	}
	// It describes the tree as it was; a new one is written once the
	// sync is done.
	if err := os.Remove(mp); err != nil {
		return nil, err
	}
	tree := filepath.Join(l.Hold, treeName)
	if fi, err := os.Lstat(tree); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%s/%s is not a directory", l.Store, treeName)
	}
	if err := os.Remove(l.App); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := os.Rename(tree, l.App); err != nil {
		return nil, err
	}
	return m, nil
}

// discard removes what a failed sync left, so that the full copy starts
// from nothing. A tree that cannot be removed is moved aside: it goes
// with the work dir at the end of the build.
func discard(l Layout) error {
	if err := workdir.RemoveAll(l.Hold); err != nil {
		return fmt.Errorf("preparing the workspace: %w", err)
	}
	if workdir.RemoveAll(l.App) == nil {
		return nil
	}
	if err := os.Rename(l.App, l.App+".dropped"); err != nil {
		return fmt.Errorf("preparing the workspace: %w", err)
	}
	return nil
}

// fullCopy copies src to l.App with archive.CopyDir and writes the
// manifest of the copy to l.Hold.
func fullCopy(ctx context.Context, src string, l Layout, opts Options) (Stats, error) {
	start := time.Now()
	pre, scanErr := scan(ctx, src) // before the copy: a change during it shows next time
	err := archive.CopyDir(ctx, src, l.App, archive.CopyOptions{Owner: opts.Owner, OnSkip: opts.OnSkip, Exclude: opts.Exclude})
	if err != nil {
		return Stats{}, err
	}
	st := Stats{Copied: len(pre)}
	if scanErr != nil {
		return st, nil // nothing to describe the copy with: not kept
	}
	if err := os.MkdirAll(l.Hold, 0o700); err != nil {
		return st, nil
	}
	m, err := describe(ctx, pre, l.App, start)
	if err == nil {
		err = writeManifest(filepath.Join(l.Hold, manifestName), m)
	}
	if err != nil && ctx.Err() == nil {
		warn(opts, fmt.Sprintf("the workspace will not be kept: %v", err))
	}
	return st, nil
}

// Keep hands the workspace of a successful build back to l.Store for the
// next build, with the manifest Prepare wrote. It reports false when
// there was nothing to keep or another build handed its workspace back
// first; what is left in the work dir then goes with it.
func Keep(l Layout) (bool, error) {
	if _, err := os.Lstat(filepath.Join(l.Hold, manifestName)); err != nil {
		return false, nil
	}
	if err := os.Rename(l.App, filepath.Join(l.Hold, treeName)); err != nil {
		return false, fmt.Errorf("keeping the workspace: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(l.Store), 0o755); err != nil {
		return false, fmt.Errorf("keeping the workspace: %w", err)
	}
	err := unix.Renameat2(unix.AT_FDCWD, l.Hold, unix.AT_FDCWD, l.Store, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// No RENAME_NOREPLACE here: rename does not replace a directory
		// that is not empty, and Keep never leaves an empty one.
		if _, lerr := os.Lstat(l.Store); errors.Is(lerr, fs.ErrNotExist) {
			err = os.Rename(l.Hold, l.Store)
		} else {
			err = unix.EEXIST
		}
	}
	switch {
	case errors.Is(err, unix.EEXIST), errors.Is(err, unix.ENOTEMPTY):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("keeping the workspace: %w", err)
	}
	return true, nil
}

// Drop removes the workspace kept at store, if any.
func Drop(store string) error {
	if err := workdir.RemoveAll(store); err != nil {
		return fmt.Errorf("dropping the kept workspace: %w", err)
	}
	return nil
}
