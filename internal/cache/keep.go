package cache

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/kiln-build/kiln/internal/archive"
)

// Small trees are also copied aside before they move into a build:
// a buildpack that rewrites a file of a restored layer in place (a
// counter, an index, a state file) changes the only copy, and a build that
// then fails or is killed could give back nothing. A copy of a small tree
// costs well under a millisecond; one of a big tree (a toolchain, a module
// cache) would cost the no-op rebuild its size, so big trees only move, and
// one that a killed or failed build had changed is made again by the next
// build.
const (
	keptName       = "kept"
	keepMaxBytes   = 1 << 20
	keepMaxEntries = 512
)

// keep copies the committed tree src, whose listing and fingerprint
// restore just took, aside as kept/<name> when it is small (at most
// keepMaxEntries entries and keepMaxBytes bytes of files), checked
// against its fingerprint; nothing is kept otherwise.
func (c *Cache) keep(src string, listing *archive.Listing, fingerprint string) {
	if len(listing.Entries) > keepMaxEntries || fileBytes(listing) > keepMaxBytes {
		return
	}
	dst := c.path(keptName, filepath.Base(src))
	tmp := c.path(keptName, "."+filepath.Base(src))
	if removeTree(tmp) != nil || os.MkdirAll(c.path(keptName), 0o755) != nil {
		return
	}
	if err := copyTree(src, tmp); err != nil {
		removeTree(tmp)
		return
	}
	if fp, err := archive.Fingerprint(tmp, nil, ""); err != nil || fp != fingerprint {
		removeTree(tmp)
		return
	}
	if removeTree(dst) != nil || os.Rename(tmp, dst) != nil {
		removeTree(tmp)
	}
}

// restoreKept puts the kept copies back into committed/ where their tree
// is missing (it went into a build that did not give it back), then drops
// the rest.
func (c *Cache) restoreKept() error {
	entries, err := os.ReadDir(c.path(keptName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading kept trees: %w", err)
	}
	md, err := c.dirMetadata()
	if err != nil {
		md = Metadata{}
	}
	wanted := map[string]bool{}
	for _, t := range md.Trees {
		wanted[t.Dir] = true
	}
	for _, e := range entries {
		dst := c.path(committedName, e.Name())
		if _, err := os.Lstat(dst); !errors.Is(err, fs.ErrNotExist) || !wanted[e.Name()] {
			continue // given back, or not of this generation
		}
		if err := os.Rename(c.path(keptName, e.Name()), dst); err != nil {
			return fmt.Errorf("putting back kept tree: %w", err)
		}
	}
	return removeTree(c.path(keptName))
}

// endSave ends the journal after a save swapped a new generation in: the
// kept copies are of the generation before.
func (c *Cache) endSave() error {
	if err := removeTree(c.path(keptName)); err != nil {
		return err
	}
	return c.endJournal()
}

// copyTree copies the tree at src to dst (which must not exist) with
// modes, owners and times, without following a link; it fails on what a
// layer tree should not hold (devices, sockets, FIFOs).
func copyTree(src, dst string) error {
	type dir struct {
		path string
		fi   fs.FileInfo
	}
	var dirs []dir
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			if err := os.Mkdir(to, 0o700); err != nil {
				return err
			}
			dirs = append(dirs, dir{to, fi})
			return nil
		case fi.Mode().IsRegular():
			if err := copyFile(p, to, fi); err != nil {
				return err
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(target, to); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: not a file, directory or link", p)
		}
		return setMeta(to, fi)
	})
	if err != nil {
		return err
	}
	// Directories last, deepest first: filling them changed their times.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := setMeta(dirs[i].path, dirs[i].fi); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string, fi fs.FileInfo) error {
	in, err := os.OpenFile(src, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// setMeta gives p (not what it links to) fi's owner, mode and times.
func setMeta(p string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: no owner", p)
	}
	if err := os.Lchown(p, int(st.Uid), int(st.Gid)); err != nil && os.Geteuid() == 0 {
		return err
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		if err := os.Chmod(p, fi.Mode()&fs.ModePerm|fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			return err
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(fi.ModTime().UnixNano()), unix.NsecToTimespec(fi.ModTime().UnixNano())}
	return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
}
