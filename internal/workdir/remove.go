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
// error and stays, with what leads to it), makes directories writable
// before emptying them, and keeps at most maxHeld directories open however
// deep the tree (a build may have made it 100,000 levels deep: one open
// directory per level would run out of file descriptors). A path that does
// not exist is no error.
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
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return unlink(pfd, name, path, 0)
	}
	// Subtrees too deep are parked in path itself, so that a removal cut
	// short leaves nothing outside it.
	fd, err := openDir(pfd, name, &st)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("removing %s: %w", path, err)
	}
	d := os.NewFile(uintptr(fd), path)
	r := &remover{top: fd, dev: st.Dev}
	err = errors.Join(r.children(d, path, 1), r.drain(path))
	d.Close()
	if err != nil {
		return err
	}
	return unlink(pfd, name, path, unix.AT_REMOVEDIR)
}

// RemoveAt removes the entry name of the directory dirfd (shown as shown
// in errors), which must lie on the device dev, as RemoveAll does: too
// deep subtrees are parked in dirfd under ".kiln-removing-N" names and
// removed from there. It returns how many entries it removed.
func RemoveAt(dirfd int, name, shown string, dev uint64) (int, error) {
	r := &remover{top: dirfd, dev: dev}
	err := r.remove(dirfd, name, shown, 0)
	err = errors.Join(err, r.drain(shown))
	return r.removed, err
}

// maxHeld bounds the directories a removal keeps open: a subtree deeper
// than this is moved up to the removal's top and removed from there.
const maxHeld = 64

// remover removes trees without following links or leaving dev.
type remover struct {
	top     int    // where too-deep subtrees are parked
	dev     uint64 // the file system the removal stays on
	parked  []string
	seq     int
	removed int
}

// remove removes the entry name of dirfd, depth levels below the top.
func (r *remover) remove(dirfd int, name, shown string, depth int) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("removing %s: %w", shown, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		r.removed++
		return unlink(dirfd, name, shown, 0)
	}
	if st.Dev != r.dev {
		return fmt.Errorf("removing %s: it is a mount point (another file system); leaving it", shown)
	}
	if depth >= maxHeld {
		return r.park(dirfd, name, shown)
	}
	fd, err := openDir(dirfd, name, &st)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("removing %s: %w", shown, err)
	}
	d := os.NewFile(uintptr(fd), shown)
	err = r.children(d, shown, depth+1)
	d.Close()
	if err != nil {
		return err
	}
	r.removed++
	return unlink(dirfd, name, shown, unix.AT_REMOVEDIR)
}

// children removes the entries of the open directory d; an entry that
// cannot go does not keep the others.
func (r *remover) children(d *os.File, shown string, depth int) error {
	fd := int(d.Fd())
	var errs []error
	for {
		names, err := d.Readdirnames(1024)
		for _, n := range names {
			if err := r.remove(fd, n, filepath.Join(shown, n), depth); err != nil {
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
	return errors.Join(errs...)
}

// park moves the directory name of dirfd to the top under a new name, to
// be removed from there by drain.
func (r *remover) park(dirfd int, name, shown string) error {
	for {
		r.seq++
		p := fmt.Sprintf(".kiln-removing-%d", r.seq)
		err := unix.Renameat2(dirfd, name, r.top, p, unix.RENAME_NOREPLACE)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return fmt.Errorf("removing %s: %w", shown, err)
		}
		r.parked = append(r.parked, p)
		return nil
	}
}

// drain removes what was parked, parking again what is still too deep.
func (r *remover) drain(shown string) error {
	for len(r.parked) > 0 {
		n := r.parked[len(r.parked)-1]
		r.parked = r.parked[:len(r.parked)-1]
		if err := r.remove(r.top, n, shown, 1); err != nil {
			return err
		}
	}
	return nil
}

func unlink(dirfd int, name, shown string, flags int) error {
	if err := unix.Unlinkat(dirfd, name, flags); err != nil && !errors.Is(err, unix.ENOENT) {
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
