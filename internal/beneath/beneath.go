package beneath

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrSymlink is wrapped by the error for a path that is, or passes
// through, a symbolic link.
var ErrSymlink = errors.New("is a symbolic link or passes through one; kiln does not follow links a build wrote")

// ErrTooLarge is wrapped by the error for a file over the read limit.
var ErrTooLarge = errors.New("is larger than kiln accepts")

// ErrNotRegular is wrapped by the error for a path that should be a
// regular file and is not (a directory, FIFO, socket or device).
var ErrNotRegular = errors.New("is not a regular file")

// ErrNotDir is wrapped by the error for a path that should be a directory
// and is not.
var ErrNotDir = errors.New("is not a directory")

// Error names the file (as the caller shows it) and what is wrong with it.
type Error struct {
	Path string // the path shown to the user: Show(rel), else root/rel
	Err  error
}

func (e *Error) Error() string { return e.Path + " " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Root is a directory whose contents are untrusted.
type Root struct {
	dir string
	// Show names rel in messages, e.g. as the container sees it
	// ("/layers/" + rel); nil shows the host path.
	Show func(rel string) string
}

// New returns the root dir; show (may be nil) names paths in errors.
func New(dir string, show func(rel string) string) *Root {
	return &Root{dir: dir, Show: show}
}

// Path is the host path of rel; only for handing to code that then walks
// it without following links (after Check or CheckDir said it is safe).
func (r *Root) Path(rel string) string { return filepath.Join(r.dir, filepath.FromSlash(rel)) }

func (r *Root) name(rel string) string {
	if r.Show != nil {
		return r.Show(filepath.ToSlash(rel))
	}
	return r.Path(rel)
}

func (r *Root) fail(rel string, err error) error {
	return &Error{Path: r.name(rel), Err: err}
}

// open opens rel beneath the root with flags, refusing every symlink.
func (r *Root) open(rel string, flags int) (*os.File, error) {
	rel = filepath.Clean(filepath.FromSlash(rel))
	if filepath.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, r.fail(rel, errors.New("is outside its directory"))
	}
	dirfd, err := unix.Open(r.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", r.dir, err)
	}
	defer unix.Close(dirfd)
	how := unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC | unix.O_NOFOLLOW),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	fd, err := openat2(dirfd, rel, &how)
	switch {
	case errors.Is(err, unix.ELOOP):
		return nil, r.fail(rel, ErrSymlink)
	case errors.Is(err, unix.ENOTDIR):
		return nil, r.fail(rel, r.whyNotDir(dirfd, rel))
	case errors.Is(err, unix.EXDEV):
		return nil, r.fail(rel, errors.New("leads outside its directory"))
	case errors.Is(err, unix.ENOENT):
		return nil, r.fail(rel, fs.ErrNotExist)
	case err != nil:
		return nil, r.fail(rel, err)
	}
	return os.NewFile(uintptr(fd), r.Path(rel)), nil
}

// whyNotDir tells a symlink (which O_NOFOLLOW|O_DIRECTORY reports as
// ENOTDIR) from a file that is no directory.
func (r *Root) whyNotDir(dirfd int, rel string) error {
	how := unix.OpenHow{
		Flags:   uint64(unix.O_PATH | unix.O_CLOEXEC | unix.O_NOFOLLOW),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	fd, err := openat2(dirfd, rel, &how)
	if errors.Is(err, unix.ELOOP) {
		return ErrSymlink
	}
	if err != nil {
		return ErrNotDir
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return ErrSymlink
	}
	return ErrNotDir
}

// ReadFile reads the regular file rel, at most limit bytes.
func (r *Root) ReadFile(rel string, limit int64) ([]byte, error) {
	f, fi, err := r.openRegular(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi.Size() > limit {
		return nil, r.fail(rel, fmt.Errorf("%w (%d bytes, the limit is %d)", ErrTooLarge, fi.Size(), limit))
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, r.fail(rel, err)
	}
	if int64(len(b)) > limit {
		return nil, r.fail(rel, fmt.Errorf("%w (over %d bytes)", ErrTooLarge, limit))
	}
	return b, nil
}

// openRegular opens rel for reading, without blocking, and checks that it
// is a regular file.
func (r *Root) openRegular(rel string) (*os.File, fs.FileInfo, error) {
	f, err := r.open(rel, unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, r.fail(rel, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, r.fail(rel, fmt.Errorf("%w (%s)", ErrNotRegular, Kind(fi.Mode())))
	}
	return f, fi, nil
}

// Lstat describes rel itself (a final symlink is described, not
// followed); a symlink on the way to it is an error.
func (r *Root) Lstat(rel string) (fs.FileInfo, error) {
	rel = filepath.Clean(filepath.FromSlash(rel))
	if rel == "." {
		return r.stat(".")
	}
	parent, err := r.open(filepath.Dir(rel), unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	var st unix.Stat_t
	if err := unix.Fstatat(int(parent.Fd()), filepath.Base(rel), &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, r.fail(rel, fs.ErrNotExist)
		}
		return nil, r.fail(rel, err)
	}
	return fileInfo{name: filepath.Base(rel), st: st}, nil
}

func (r *Root) stat(rel string) (fs.FileInfo, error) {
	f, err := r.open(rel, unix.O_PATH)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, r.fail(rel, err)
	}
	return fi, nil
}

// CheckDir says whether rel is a directory reached without a symlink:
// nil when it is, an error wrapping fs.ErrNotExist when it is absent, and
// one naming it when it is a link or something else.
func (r *Root) CheckDir(rel string) error {
	f, err := r.open(rel, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	return f.Close()
}

// CheckFile says whether rel is a regular file reached without a symlink,
// as CheckDir does for directories.
func (r *Root) CheckFile(rel string) error {
	fi, err := r.Lstat(rel)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return r.fail(rel, ErrSymlink)
	}
	if !fi.Mode().IsRegular() {
		return r.fail(rel, fmt.Errorf("%w (%s)", ErrNotRegular, Kind(fi.Mode())))
	}
	return nil
}

// Kind names the type of m for messages ("a FIFO", "a symbolic link").
func Kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}

// ReadHead reads at most limit bytes of the regular file rel and says
// whether there was more: for messages a build left, which are shown
// truncated rather than refused.
func (r *Root) ReadHead(rel string, limit int64) ([]byte, bool, error) {
	f, _, err := r.openRegular(rel)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, false, r.fail(rel, err)
	}
	if int64(len(b)) > limit {
		return b[:limit], true, nil
	}
	return b, false, nil
}

// RenameOut moves the entry rel (itself, never what a link there leads
// to) to the host path dst, reaching its parent beneath the root without
// following a link, so nothing planted on the way redirects the move.
// Check what arrived at dst afterwards: it is out of the build's reach
// there.
func (r *Root) RenameOut(rel, dst string) error {
	rel = filepath.Clean(filepath.FromSlash(rel))
	if rel == "." {
		return r.fail(rel, errors.New("is the root itself"))
	}
	parent, err := r.open(filepath.Dir(rel), unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer parent.Close()
	if err := unix.Renameat(int(parent.Fd()), filepath.Base(rel), unix.AT_FDCWD, dst); err != nil {
		return r.fail(rel, err)
	}
	return nil
}
