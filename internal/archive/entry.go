package archive

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/extract"
)

// DefaultModTime is the modification time given to every entry when no other
// time is chosen: the constant the CNB lifecycle uses for reproducible layers.
var DefaultModTime = time.Date(1980, time.January, 1, 0, 0, 1, 0, time.UTC)

// Kind says what an Entry is.
type Kind int

// The kinds of entries a Tar can hold.
const (
	KindDir Kind = iota + 1
	KindFile
	KindSymlink
)

func (k Kind) String() string {
	switch k {
	case KindDir:
		return "dir"
	case KindFile:
		return "file"
	case KindSymlink:
		return "symlink"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Owner is a numeric user and group.
type Owner = extract.Owner

// Entry is one synthetic archive entry.
type Entry struct {
	// Name is the slash-separated path inside the archive, relative to its
	// root ("cnb/lifecycle/launcher"). A leading "/" is dropped.
	Name string
	Kind Kind
	// Mode holds the permission bits, plus fs.ModeSetuid, fs.ModeSetgid and
	// fs.ModeSticky when wanted. Other type bits are ignored.
	Mode  fs.FileMode
	Owner Owner
	// Data is the content of a KindFile entry when HostPath is empty.
	Data []byte
	// HostPath, for a KindFile entry, names a host file whose content is read
	// when the archive is written.
	HostPath string
	// Target is the link target of a KindSymlink entry, stored verbatim.
	Target string
}

// Dir returns a directory entry.
func Dir(name string, mode fs.FileMode, o Owner) Entry {
	return Entry{Name: name, Kind: KindDir, Mode: mode, Owner: o}
}

// File returns a regular file entry holding data.
func File(name string, mode fs.FileMode, o Owner, data []byte) Entry {
	return Entry{Name: name, Kind: KindFile, Mode: mode, Owner: o, Data: data}
}

// HostFile returns a regular file entry whose content is read from hostPath
// when the archive is written.
func HostFile(name, hostPath string, mode fs.FileMode, o Owner) Entry {
	return Entry{Name: name, Kind: KindFile, Mode: mode, Owner: o, HostPath: hostPath}
}

// Symlink returns a symbolic link entry pointing at target.
func Symlink(name, target string, o Owner) Entry {
	return Entry{Name: name, Kind: KindSymlink, Mode: 0o777, Owner: o, Target: target}
}

// ErrUnsafePath reports an archive name that is absolute or climbs out of
// its root with "..".
var ErrUnsafePath = extract.ErrUnsafePath

// ErrEscapingSymlink reports a symlink whose target resolves outside its tree.
var ErrEscapingSymlink = errors.New("symlink leads outside the tree")

// ErrSpecialFile reports a socket, fifo or device, which are never copied.
var ErrSpecialFile = extract.ErrSpecialFile

// cleanRel cleans a slash-separated relative archive name. It returns "." for
// the root and ErrUnsafePath for names that leave the root.
func cleanRel(name string) (string, error) { return extract.CleanRel(name) }

// cleanPrefix is cleanRel for caller-given prefixes, where a leading "/" is
// tolerated and the empty string means the root.
func cleanPrefix(p string) (string, error) {
	p = strings.TrimLeft(p, "/")
	if p == "" {
		return ".", nil
	}
	return cleanRel(p)
}

// permBits keeps the permission and special bits of m.
func permBits(m fs.FileMode) fs.FileMode {
	return m & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}

// tarMode converts permission and special bits to the tar header encoding.
func tarMode(m fs.FileMode) int64 {
	v := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		v |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		v |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		v |= 0o1000
	}
	return v
}
