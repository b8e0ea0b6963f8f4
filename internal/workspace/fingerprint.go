package workspace

import (
	"io/fs"
	"time"

	"golang.org/x/sys/unix"
)

// srcFP is what a source entry looked like when it was copied. The zero
// value matches no entry (every real st_mode has a type).
type srcFP struct {
	Mode         uint32 // st_mode: type and permission bits
	Size         int64
	Mtime, Ctime int64 // nanoseconds
	Ino, Dev     uint64
}

// wsFP is what a workspace entry looked like right after a sync.
type wsFP struct {
	Mode         uint32
	UID, GID     uint32
	Size         int64
	Mtime, Ctime int64
	Ino, Nlink   uint64
}

func srcOf(st *unix.Stat_t) srcFP {
	return srcFP{Mode: st.Mode, Size: st.Size, Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano(), Ino: st.Ino, Dev: st.Dev}
}

func wsOf(st *unix.Stat_t) wsFP {
	return wsFP{Mode: st.Mode, UID: st.Uid, GID: st.Gid, Size: st.Size,
		Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano(), Ino: st.Ino, Nlink: uint64(st.Nlink)}
}

// racyMargin: a source entry whose ctime is this close to (or after) the
// start of a sync may change again within the same clock tick without its
// ctime moving; its fingerprint is not recorded, so the next sync copies
// it again.
var racyMargin = 2 * time.Second // tests lower it

// typeOf is the file type of an st_mode.
func typeOf(m uint32) uint32 { return m & unix.S_IFMT }

func isDir(m uint32) bool  { return typeOf(m) == unix.S_IFDIR }
func isReg(m uint32) bool  { return typeOf(m) == unix.S_IFREG }
func isLink(m uint32) bool { return typeOf(m) == unix.S_IFLNK }

// permOf is the permission and setuid, setgid and sticky bits of an
// st_mode as the os package spells them (what archive.CopyDir applies).
func permOf(m uint32) fs.FileMode {
	p := fs.FileMode(m & 0o777)
	if m&unix.S_ISUID != 0 {
		p |= fs.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		p |= fs.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		p |= fs.ModeSticky
	}
	return p
}

// typeBits is the type of an st_mode as an fs.FileMode (what a directory
// entry's Type reports), for messages about special files.
func typeBits(m uint32) fs.FileMode {
	switch typeOf(m) {
	case unix.S_IFDIR:
		return fs.ModeDir
	case unix.S_IFLNK:
		return fs.ModeSymlink
	case unix.S_IFIFO:
		return fs.ModeNamedPipe
	case unix.S_IFSOCK:
		return fs.ModeSocket
	case unix.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		return fs.ModeDevice
	case unix.S_IFREG:
		return 0
	}
	return fs.ModeIrregular
}

func mtimeOf(st *unix.Stat_t) time.Time { return time.Unix(0, st.Mtim.Nano()) }
