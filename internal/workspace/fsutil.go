package workspace

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// dirFlags open a directory, never what a link in its place points to.
const dirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC

// openDirAt opens the directory name of dirfd (shown as shown in errors)
// without following a link.
func openDirAt(dirfd int, name, shown string) (*os.File, error) {
	fd, err := unix.Openat(dirfd, name, dirFlags, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: shown, Err: err}
	}
	return os.NewFile(uintptr(fd), shown), nil
}

func lstatAt(dirfd int, name string) (*unix.Stat_t, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, err
	}
	return &st, nil
}

func fstat(f *os.File) (*unix.Stat_t, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, &os.PathError{Op: "fstat", Path: f.Name(), Err: err}
	}
	return &st, nil
}

// readNames lists the directory d, sorted ("." and ".." left out).
func readNames(d *os.File) ([]string, error) {
	names, err := d.Readdirnames(-1)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}

// accessible makes the directory name of dirfd (st is its lstat) readable,
// writable and searchable by its owner when that is kiln, not root, and
// it was not (root needs no permission). It reports whether it changed
// the mode: the final one is set afterwards.
func accessible(dirfd int, name string, st *unix.Stat_t) (bool, error) {
	const need = 0o700
	euid := os.Geteuid()
	if st.Mode&need == need || euid == 0 || int(st.Uid) != euid {
		return false, nil
	}
	// fchmodat follows a final link, but name was just seen to be a
	// directory, and nothing writes the tree while kiln syncs it.
	if err := unix.Fchmodat(dirfd, name, st.Mode&0o7777|need, 0); err != nil {
		return false, fmt.Errorf("making it accessible: %w", err)
	}
	return true, nil
}

// cleanXattrs removes the extended attributes of the open directory d
// that a build may have set (user.*, trusted.*, and ACLs, whose defaults
// new entries would inherit), leaving the security modules' labels.
func cleanXattrs(d *os.File) error {
	fd := int(d.Fd())
	n, err := unix.Flistxattr(fd, nil)
	if err != nil || n == 0 {
		if errors.Is(err, unix.ENOTSUP) {
			return nil
		}
		return err
	}
	buf := make([]byte, n)
	if n, err = unix.Flistxattr(fd, buf); err != nil {
		return err
	}
	for _, a := range strings.Split(string(buf[:n]), "\x00") {
		if a == "" || strings.HasPrefix(a, "security.") {
			continue
		}
		if err := unix.Fremovexattr(fd, a); err != nil && !errors.Is(err, unix.ENODATA) {
			return fmt.Errorf("removing attribute %s: %w", a, err)
		}
	}
	return nil
}
