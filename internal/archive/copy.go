package archive

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kiln-build/kiln/internal/extract"
)

// CopyOptions control CopyDir.
type CopyOptions struct {
	// Owner, when set, becomes the owner of every copied entry and of dst
	// itself (this needs root). Otherwise copies belong to the caller.
	Owner *Owner
	// OnSkip is told about every entry left out: symlinks leading outside
	// src (reason wraps ErrEscapingSymlink) and sockets, fifos and devices
	// (reason wraps ErrSpecialFile). hostPath is the entry's path under src.
	// A non-nil return aborts the copy with that error.
	OnSkip func(hostPath string, reason error) error
	// Exclude, when set, leaves out each entry it reports true for (rel
	// is slash-separated and relative to src; isDir for a directory,
	// whose whole subtree then stays out), silently: these are entries
	// the project asked to leave out.
	Exclude func(rel string, isDir bool) bool
}

// CopyDir copies the tree src into dst (created if missing) as plain,
// independent copies: directories, regular files and symlinks, with their
// permission bits and modification times. Hardlinked files become separate
// files. A symlink is copied only when its target resolves inside src
// without ever leaving it (absolute targets never qualify); a target that
// does not exist but stays lexically inside src is copied as is. Entries
// already in dst are replaced; directories are merged.
//
// Both trees are accessed through an os.Root, so a concurrent change in src
// cannot make the copy read outside src, nor write outside dst.
func CopyDir(ctx context.Context, src, dst string, opts CopyOptions) error {
	sr, err := os.OpenRoot(src)
	if err != nil {
		return fmt.Errorf("copying: %w", err)
	}
	defer sr.Close()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("copying %s: %w", src, err)
	}
	dr, err := os.OpenRoot(dst)
	if err != nil {
		return fmt.Errorf("copying %s: %w", src, err)
	}
	defer dr.Close()
	c := &copier{src: sr, dst: dr, srcPath: src, opts: opts}
	if err := fs.WalkDir(sr.FS(), ".", c.visit(ctx)); err != nil {
		return err
	}
	// Directory modes and times last (deepest first): writing into a
	// directory changes its time, and a read-only one could not be filled.
	slices.Sort(c.dirs)
	slices.Reverse(c.dirs)
	for _, d := range c.dirs {
		if err := c.finishDir(d); err != nil {
			return fmt.Errorf("copying %s: %w", filepath.Join(src, d), err)
		}
	}
	return nil
}

type copier struct {
	src, dst *os.Root
	srcPath  string
	opts     CopyOptions
	dirs     []string
}

func (c *copier) visit(ctx context.Context) fs.WalkDirFunc {
	return func(p string, d fs.DirEntry, err error) error {
		host := filepath.Join(c.srcPath, filepath.FromSlash(p))
		if err != nil {
			return fmt.Errorf("copying %s: %w", host, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if c.opts.Exclude != nil && p != "." && c.opts.Exclude(p, d.IsDir()) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		switch t := d.Type(); {
		case t.IsDir():
			err = c.dir(p)
		case t.IsRegular():
			err = c.file(ctx, p)
		case t&fs.ModeSymlink != 0:
			err = c.symlink(p, host)
		default:
			err = c.skip(host, fmt.Errorf("%s (%s): %w", host, t, ErrSpecialFile))
		}
		if err != nil {
			return fmt.Errorf("copying %s: %w", host, err)
		}
		return nil
	}
}

func (c *copier) skip(host string, reason error) error {
	if c.opts.OnSkip == nil {
		return nil
	}
	return c.opts.OnSkip(host, reason)
}

func (c *copier) chown(name string) error {
	if c.opts.Owner == nil {
		return nil
	}
	return c.dst.Lchown(name, c.opts.Owner.UID, c.opts.Owner.GID)
}

// clear removes a non-directory at name in dst, or anything at all unless
// keepDir is set. It reports whether a directory is kept.
func (c *copier) clear(name string, keepDir bool) (bool, error) {
	if name == "." {
		return true, nil
	}
	fi, err := c.dst.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if keepDir && fi.IsDir() {
		return true, nil
	}
	return false, c.dst.RemoveAll(name)
}

func (c *copier) dir(name string) error {
	kept, err := c.clear(name, true)
	if err != nil {
		return err
	}
	if !kept {
		if err := c.dst.Mkdir(name, 0o700); err != nil {
			return err
		}
	}
	if err := c.chown(name); err != nil {
		return err
	}
	c.dirs = append(c.dirs, name)
	return nil
}

func (c *copier) finishDir(name string) error {
	fi, err := c.src.Lstat(name)
	if err != nil {
		return err
	}
	return extract.ChmodTimes(c.dst, name, permBits(fi.Mode()), fi.ModTime())
}

func (c *copier) file(ctx context.Context, name string) error {
	in, err := c.src.Open(name)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return errors.New("changed while being copied")
	}
	if _, err := c.clear(name, false); err != nil {
		return err
	}
	return extract.WriteFile(ctx, c.dst, name, in, c.opts.Owner, permBits(fi.Mode()), fi.ModTime())
}

func (c *copier) symlink(name, host string) error {
	target, err := c.src.Readlink(name)
	if err != nil {
		return err
	}
	if reason := c.escapes(name, target); reason != nil {
		return c.skip(host, fmt.Errorf("%s -> %s: %w: %v", host, target, ErrEscapingSymlink, reason))
	}
	if _, err := c.clear(name, false); err != nil {
		return err
	}
	if err := c.dst.Symlink(target, name); err != nil {
		return err
	}
	if err := c.chown(name); err != nil {
		return err
	}
	fi, err := c.src.Lstat(name)
	if err != nil {
		return err
	}
	return extract.Lchtimes(c.dst, name, fi.ModTime())
}

// escapes returns why the symlink name -> target leaves the source tree,
// or nil when it stays inside. Resolution itself is left to the os.Root,
// which refuses absolute targets and any step outside the root.
func (c *copier) escapes(name, target string) error { return SymlinkEscapes(c.src, name, target) }

// SymlinkEscapes returns why the symlink name -> target in the tree root
// leaves it (absolute, or climbing out lexically or through the links on
// its way, which root.Stat refuses to follow out), or nil: the rule
// CopyDir applies to the source's links, for others copying as it does.
func SymlinkEscapes(root *os.Root, name, target string) error {
	if filepath.IsAbs(target) {
		return errors.New("absolute target")
	}
	lexical := path.Join(path.Dir(name), filepath.ToSlash(target))
	if lexical == ".." || strings.HasPrefix(lexical, "../") {
		return errors.New("target climbs out of the tree")
	}
	_, err := root.Stat(name)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return nil // dangling, but inside
	default:
		return err
	}
}
