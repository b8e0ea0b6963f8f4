package beneath

import (
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// noOpenat2 is set once the kernel said it has no openat2 (before 5.6).
var noOpenat2 atomic.Bool

// openat2 opens path beneath dirfd without following any symlink. On a
// kernel without openat2 it walks the path one component at a time with
// O_NOFOLLOW, which the callers' containers cannot race: the build that
// wrote the files has ended before the host reads them.
func openat2(dirfd int, path string, how *unix.OpenHow) (int, error) {
	if !noOpenat2.Load() {
		for {
			fd, err := unix.Openat2(dirfd, path, how)
			if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
				continue
			}
			if errors.Is(err, unix.ENOSYS) {
				noOpenat2.Store(true)
				break
			}
			return fd, err
		}
	}
	return walkOpen(dirfd, path, int(how.Flags))
}

// walkOpen is openat2's fallback: every directory on the way is opened
// with O_NOFOLLOW|O_DIRECTORY, then the last component with flags.
func walkOpen(dirfd int, path string, flags int) (int, error) {
	parts := strings.Split(filepath.Clean(path), string(filepath.Separator))
	cur, err := unix.Dup(dirfd)
	if err != nil {
		return -1, err
	}
	for i, p := range parts {
		if p == "." {
			continue
		}
		if p == ".." {
			unix.Close(cur)
			return -1, unix.EXDEV
		}
		f := unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
		if i == len(parts)-1 {
			f = flags | unix.O_NOFOLLOW | unix.O_CLOEXEC
		}
		next, err := unix.Openat(cur, p, f, 0)
		if errors.Is(err, unix.ENOTDIR) && i < len(parts)-1 {
			// A symlink opened with O_DIRECTORY|O_NOFOLLOW says ENOTDIR.
			var st unix.Stat_t
			if unix.Fstatat(cur, p, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
				err = unix.ELOOP
			}
		}
		unix.Close(cur)
		if err != nil {
			return -1, err
		}
		cur = next
	}
	if parts[len(parts)-1] == "." {
		// The root itself: reopen it with the caller's flags.
		fd, err := unix.Openat(cur, ".", flags|unix.O_CLOEXEC, 0)
		unix.Close(cur)
		return fd, err
	}
	return cur, nil
}
