package workdir

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// RemoveAll removes path and everything below it, like os.RemoveAll, but
// it never follows a symlink (a link is removed, not what it points to),
// never descends into another file system (a mount point below path is an
// error and stays, with what leads to it), and makes directories writable
// before emptying them. A path that does not exist is no error.
func RemoveAll(path string) error {
	path = filepath.Clean(path)
	parent, name := filepath.Split(path)
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("removing %s: refusing to remove a root", path)
	}
	if parent == "" {
		parent = "."
	}
	pfd, err := unix.Open(parent, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("removing %s: %w", path, err)
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("removing %s: %w", path, err)
	}
	return removeAt(pfd, name, path, st.Dev)
}

// removeAt removes the entry name of the directory dirfd (shown as shown),
// which must lie on the device dev.
func removeAt(dirfd int, name, shown string, dev uint64) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("removing %s: %w", shown, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if err := unix.Unlinkat(dirfd, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("removing %s: %w", shown, err)
		}
		return nil
	}
	if st.Dev != dev {
		return fmt.Errorf("removing %s: it is a mount point (another file system); leaving it", shown)
	}
	fd, err := openDir(dirfd, name, &st)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("removing %s: %w", shown, err)
	}
	d := os.NewFile(uintptr(fd), shown)
	defer d.Close()
	var errs []error
	for {
		names, err := d.Readdirnames(1024)
		for _, n := range names {
			if err := removeAt(fd, n, filepath.Join(shown, n), dev); err != nil {
				errs = append(errs, err)
			}
		}
		if errors.Is(err, io.EOF) || (err == nil && len(names) == 0) {
			break
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", shown, err))
			break
		}
		if len(errs) > 0 {
			break
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("removing %s: %w", shown, err)
	}
	return nil
}

// openDir opens the directory name of dirfd (st is its stat) without
// following a link, and makes it readable, writable and searchable by its
// owner when that is kiln and it was not.
func openDir(dirfd int, name string, st *unix.Stat_t) (int, error) {
	const flags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	const need = 0o700
	mine := int(st.Uid) == os.Geteuid()
	if mine && st.Mode&need != need {
		// Open the dir itself (not what a link there points to) to chmod
		// it: O_PATH needs no permission on it.
		pfd, err := unix.Openat(dirfd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, err
		}
		mode := st.Mode&0o7777 | need
		err = unix.Fchmodat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", pfd), mode, 0)
		unix.Close(pfd)
		if errors.Is(err, unix.ENOENT) {
			// No /proc: the dir was just checked to be one, and what wrote
			// the tree has ended.
			err = unix.Fchmodat(dirfd, name, mode, 0)
		}
		if err != nil {
			return -1, fmt.Errorf("making it writable: %w", err)
		}
	}
	return unix.Openat(dirfd, name, flags, 0)
}
