package extract

import (
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SetTimes sets access and modification time of base inside directory dir
// without following a final symlink, or of the open file dir itself when
// base is empty.
func SetTimes(dir *os.File, base string, t time.Time) error {
	ts := unix.NsecToTimespec(t.UnixNano())
	times := [2]unix.Timespec{ts, ts}
	rc, err := dir.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		if base == "" {
			// futimens(fd): utimensat with a NULL path acts on fd itself.
			_, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, fd, 0,
				uintptr(unsafe.Pointer(&times)), 0, 0, 0)
			if errno != 0 {
				serr = errno
			}
			return
		}
		serr = unix.UtimesNanoAt(int(fd), base, times[:], unix.AT_SYMLINK_NOFOLLOW)
	})
	if err != nil {
		return err
	}
	if serr != nil {
		name := dir.Name()
		if base != "" {
			name += "/" + base
		}
		return &os.PathError{Op: "utimensat", Path: name, Err: serr}
	}
	return nil
}
