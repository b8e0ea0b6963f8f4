package workspace

import (
	"errors"
	"fmt"
	"github.com/kiln-build/kiln/internal/workdir"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/internal/extract"
)

// dir brings the workspace directory wd (wst: its lstat when the sync
// reached it) in line with the source directory sd (sst), rel being both
// their paths. fresh says wd was just made; touched that its mode was
// changed to get in.
func (s *syncer) dir(rel string, sd, wd *os.File, sst, wst *unix.Stat_t, fresh, touched bool) error {
	// The root is renamed in and out of the work dir, so its ctime moves
	// every build: it is always set again (and its record never used).
	dirty := fresh || touched || rel == "."
	if !fresh && (rel == "." || !s.unchanged(rel, sst, wst)) {
		// Changed since the last sync, by the build or with the source:
		// nothing about it may shape what is made inside.
		if err := s.prepareDir(wd, wst); err != nil {
			return s.wsErr(rel, err)
		}
		dirty = true
	}
	names, err := readNames(sd)
	if err != nil {
		return fmt.Errorf("copying %s: %w", s.host(rel), err)
	}
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	have := map[string]bool{}
	if !fresh {
		wsNames, err := readNames(wd)
		if err != nil {
			return s.wsErr(rel, err)
		}
		for _, n := range wsNames {
			if want[n] {
				have[n] = true
				continue
			}
			removed, err := workdir.RemoveAt(int(wd.Fd()), n, s.shown(path.Join(rel, n)), s.dev)
			s.stats.Removed += removed
			if err != nil {
				return &wsError{err}
			}
			dirty = true
		}
	}
	for _, n := range names {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		changed, err := s.child(path.Join(rel, n), n, sd, wd, have[n])
		if err != nil {
			return err
		}
		dirty = dirty || changed
	}
	return s.finishDir(rel, wd, sst, wst, dirty, fresh)
}

// prepareDir gives a kept directory that changed since the last sync the
// owner it should have, no extended attributes (default ACLs would be
// inherited) and mode 0700 (no setgid bit to be inherited) until
// finishDir sets its mode.
func (s *syncer) prepareDir(wd *os.File, wst *unix.Stat_t) error {
	if err := cleanXattrs(wd); err != nil {
		return err
	}
	if o := s.opts.Owner; o != nil {
		if !s.ownerOK(wst) {
			if err := wd.Chown(o.UID, o.GID); err != nil {
				return err
			}
		}
	} else if gid := os.Getegid(); int(wst.Gid) != gid {
		if err := wd.Chown(-1, gid); err != nil {
			return err
		}
	}
	if wst.Mode&0o7777 != 0o700 {
		return wd.Chmod(0o700)
	}
	return nil
}

// finishDir gives a workspace directory the owner, mode and time CopyDir
// gives it, unless nothing in or about it changed.
func (s *syncer) finishDir(rel string, wd *os.File, sst, wst *unix.Stat_t, dirty, fresh bool) error {
	if !dirty && s.ownerOK(wst) && sameAttrs(sst, wst) {
		s.m.put(rel, s.srcFP(sst), wsOf(wst))
		s.stats.Kept++
		return nil
	}
	if o := s.opts.Owner; o != nil {
		if err := wd.Chown(o.UID, o.GID); err != nil {
			return s.wsErr(rel, err)
		}
	}
	if err := wd.Chmod(permOf(sst.Mode)); err != nil {
		return s.wsErr(rel, err)
	}
	if err := extract.SetTimes(wd, "", mtimeOf(sst)); err != nil {
		return s.wsErr(rel, err)
	}
	st, err := fstat(wd)
	if err != nil {
		return s.wsErr(rel, err)
	}
	s.m.put(rel, s.srcFP(sst), wsOf(st))
	if !fresh {
		s.stats.Fixed++
	}
	return nil
}

// child syncs the entry name of the source directory sd, at rel, into the
// workspace directory wd (inWS: which has an entry of that name). It
// reports whether it changed wd's entries.
func (s *syncer) child(rel, name string, sd, wd *os.File, inWS bool) (bool, error) {
	host := s.host(rel)
	sst, err := lstatAt(int(sd.Fd()), name)
	if err != nil {
		return false, fmt.Errorf("copying %s: %w", host, &os.PathError{Op: "lstat", Path: host, Err: err})
	}
	var wst *unix.Stat_t
	if inWS {
		if wst, err = lstatAt(int(wd.Fd()), name); errors.Is(err, unix.ENOENT) {
			wst = nil
		} else if err != nil {
			return false, s.wsErr(rel, err)
		}
	}
	if s.opts.Exclude != nil && s.opts.Exclude(rel, isDir(sst.Mode)) {
		return s.drop(rel, name, wd, wst)
	}
	switch {
	case isDir(sst.Mode):
		return s.childDir(rel, name, sd, wd, sst, wst)
	case isReg(sst.Mode):
		return s.file(rel, name, sd, wd, sst, wst)
	case isLink(sst.Mode):
		return s.link(rel, name, sd, wd, sst, wst)
	}
	s.skip(host, fmt.Errorf("%s (%s): %w", host, typeBits(sst.Mode), archive.ErrSpecialFile))
	return s.drop(rel, name, wd, wst)
}

// drop removes the workspace entry name of wd (wst: its lstat; nil when
// there is none).
func (s *syncer) drop(rel, name string, wd *os.File, wst *unix.Stat_t) (bool, error) {
	if wst == nil {
		return false, nil
	}
	n, err := workdir.RemoveAt(int(wd.Fd()), name, s.shown(rel), s.dev)
	s.stats.Removed += n
	if err != nil {
		return false, &wsError{err}
	}
	return true, nil
}

func (s *syncer) childDir(rel, name string, sd, wd *os.File, sst, wst *unix.Stat_t) (bool, error) {
	host := s.host(rel)
	changed, touched := false, false
	if wst != nil && isDir(wst.Mode) {
		if wst.Dev != s.dev {
			return false, s.wsErr(rel, errors.New("is a mount point (another file system)"))
		}
		var err error
		if touched, err = accessible(int(wd.Fd()), name, wst); err != nil {
			return false, s.wsErr(rel, err)
		}
	} else {
		if _, err := s.drop(rel, name, wd, wst); err != nil {
			return false, err
		}
		if err := unix.Mkdirat(int(wd.Fd()), name, 0o700); err != nil {
			return false, s.wsErr(rel, err)
		}
		if o := s.opts.Owner; o != nil {
			if err := unix.Fchownat(int(wd.Fd()), name, o.UID, o.GID, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return false, s.wsErr(rel, err)
			}
		}
		var err error
		if wst, err = lstatAt(int(wd.Fd()), name); err != nil {
			return false, s.wsErr(rel, err)
		}
		changed = true
		s.stats.Copied++
	}
	cs, err := openDirAt(int(sd.Fd()), name, host)
	if err != nil {
		return false, fmt.Errorf("copying %s: %w", host, err)
	}
	defer cs.Close()
	cw, err := openDirAt(int(wd.Fd()), name, s.shown(rel))
	if err != nil {
		return false, &wsError{err}
	}
	defer cw.Close()
	return changed, s.dir(rel, cs, cw, sst, wst, changed, touched)
}

// keep leaves the unchanged workspace entry name of wd as it is, but for
// its owner.
func (s *syncer) keep(rel, name string, wd *os.File, sst, wst *unix.Stat_t) error {
	if s.ownerOK(wst) {
		s.m.put(rel, s.srcFP(sst), wsOf(wst))
		s.stats.Kept++
		return nil
	}
	o := s.opts.Owner
	if err := unix.Fchownat(int(wd.Fd()), name, o.UID, o.GID, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return s.wsErr(rel, err)
	}
	if isReg(wst.Mode) && wst.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
		// chown cleared them. fchmodat follows a final link, but name is a
		// regular file, and nothing writes the tree while kiln syncs it.
		if err := unix.Fchmodat(int(wd.Fd()), name, wst.Mode&0o7777, 0); err != nil {
			return s.wsErr(rel, err)
		}
	}
	s.stats.Fixed++
	return s.record(rel, wd, name, sst)
}

// file syncs the regular source file name of sd into wd.
func (s *syncer) file(rel, name string, sd, wd *os.File, sst, wst *unix.Stat_t) (bool, error) {
	if wst != nil && isReg(wst.Mode) && wst.Nlink == 1 && wst.Size == sst.Size && sameAttrs(sst, wst) && s.unchanged(rel, sst, wst) {
		return false, s.keep(rel, name, wd, sst, wst)
	}
	host := s.host(rel)
	fd, err := unix.Openat(int(sd.Fd()), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, fmt.Errorf("copying %s: %w", host, &os.PathError{Op: "open", Path: host, Err: err})
	}
	in := os.NewFile(uintptr(fd), host)
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return false, fmt.Errorf("copying %s: %w", host, err)
	}
	if !fi.Mode().IsRegular() {
		return false, fmt.Errorf("copying %s: %w", host, errors.New("changed while being copied"))
	}
	if wst != nil && isDir(wst.Mode) {
		if _, err := s.drop(rel, name, wd, wst); err != nil {
			return false, err
		}
	}
	mode := fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	err = s.replace(rel, name, wd, func(tmp string) error {
		root, err := s.rootOf(wd, rel)
		if err != nil {
			return err
		}
		defer root.Close()
		return extract.WriteFile(s.ctx, root, tmp, in, s.opts.Owner, mode, fi.ModTime())
	})
	if err != nil {
		return false, err
	}
	return true, s.record(rel, wd, name, sst)
}

// link syncs the source symlink name of sd into wd, or leaves it out as
// CopyDir does when it leads outside the source.
func (s *syncer) link(rel, name string, sd, wd *os.File, sst, wst *unix.Stat_t) (bool, error) {
	host := s.host(rel)
	target, err := readlinkAt(int(sd.Fd()), name)
	if err != nil {
		return false, fmt.Errorf("copying %s: %w", host, &os.PathError{Op: "readlink", Path: host, Err: err})
	}
	if reason := s.escapes(rel, target); reason != nil {
		s.skip(host, fmt.Errorf("%s -> %s: %w: %v", host, target, archive.ErrEscapingSymlink, reason))
		return s.drop(rel, name, wd, wst)
	}
	if wst != nil && isLink(wst.Mode) && wst.Size == int64(len(target)) && sameAttrs(sst, wst) && s.unchanged(rel, sst, wst) {
		return false, s.keep(rel, name, wd, sst, wst)
	}
	if wst != nil && isDir(wst.Mode) {
		if _, err := s.drop(rel, name, wd, wst); err != nil {
			return false, err
		}
	}
	err = s.replace(rel, name, wd, func(tmp string) error {
		if err := unix.Symlinkat(target, int(wd.Fd()), tmp); err != nil {
			return &os.LinkError{Op: "symlink", Old: target, New: tmp, Err: err}
		}
		if o := s.opts.Owner; o != nil {
			if err := unix.Fchownat(int(wd.Fd()), tmp, o.UID, o.GID, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return err
			}
		}
		return extract.SetTimes(wd, tmp, mtimeOf(sst))
	})
	if err != nil {
		return false, err
	}
	return true, s.record(rel, wd, name, sst)
}

// replace makes a new entry with mk under a temporary name in wd, then
// renames it over name: what was there (a file perhaps hard-linked
// elsewhere, a FIFO, a link) is never opened nor written through.
func (s *syncer) replace(rel, name string, wd *os.File, mk func(tmp string) error) error {
	for {
		s.seq++
		tmp := fmt.Sprintf(".kiln-sync-%d", s.seq)
		err := mk(tmp)
		if errors.Is(err, fs.ErrExist) {
			continue // a name the source has too
		}
		if err == nil {
			err = unix.Renameat(int(wd.Fd()), tmp, int(wd.Fd()), name)
		}
		if err != nil {
			unix.Unlinkat(int(wd.Fd()), tmp, 0)
			if s.ctx.Err() != nil {
				return s.ctx.Err()
			}
			return s.wsErr(rel, err)
		}
		s.stats.Copied++
		return nil
	}
}

// rootOf opens the workspace directory wd (at rel) as an os.Root, for
// extract.WriteFile, which CopyDir writes files with.
func (s *syncer) rootOf(wd *os.File, rel string) (*os.Root, error) {
	r, err := os.OpenRoot(fmt.Sprintf("/proc/self/fd/%d", wd.Fd()))
	if err != nil {
		// No /proc: the path leads there, every directory on it was just
		// seen to be one, and nothing writes the tree while kiln syncs it.
		r, err = os.OpenRoot(filepath.Join(s.dstPath, filepath.FromSlash(path.Dir(rel))))
	}
	return r, err
}

// readlinkAt reads the target of the symlink name of dirfd.
func readlinkAt(dirfd int, name string) (string, error) {
	for n := 256; ; n *= 2 {
		buf := make([]byte, n)
		got, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if got < n {
			return string(buf[:got]), nil
		}
	}
}
