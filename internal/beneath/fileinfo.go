package beneath

import (
	"io/fs"
	"time"

	"golang.org/x/sys/unix"
)

// fileInfo is an fs.FileInfo from a unix.Stat_t.
type fileInfo struct {
	name string
	st   unix.Stat_t
}

func (f fileInfo) Name() string { return f.name }
func (f fileInfo) Size() int64  { return f.st.Size }
func (f fileInfo) ModTime() time.Time {
	return time.Unix(f.st.Mtim.Sec, f.st.Mtim.Nsec)
}
func (f fileInfo) IsDir() bool { return f.Mode().IsDir() }
func (f fileInfo) Sys() any    { return &f.st }

func (f fileInfo) Mode() fs.FileMode {
	m := fs.FileMode(f.st.Mode & 0o777)
	switch f.st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	case unix.S_IFIFO:
		m |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		m |= fs.ModeSocket
	case unix.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		m |= fs.ModeDevice
	}
	if f.st.Mode&unix.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if f.st.Mode&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if f.st.Mode&unix.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}
