package extract

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"
)

// ErrUnsafePath reports an archive name that is absolute or climbs out of
// its root with "..".
var ErrUnsafePath = errors.New("path leaves the archive root")

// ErrSpecialFile reports a socket, fifo or device, which are never
// extracted (nor copied).
var ErrSpecialFile = errors.New("special file skipped")

// Options control an Extractor. The zero value extracts as the lifecycle
// does an image layer: modes, links and times as the archive says.
type Options struct {
	// PreserveOwner sets each entry's numeric owner from its header, which
	// needs root (or CAP_CHOWN). Otherwise entries belong to the caller.
	PreserveOwner bool
	// Whiteouts interprets OCI whiteout entries: ".wh.<name>" deletes <name>
	// from lower layers and ".wh..wh..opq" empties its directory of lower
	// layers' contents. Otherwise they are extracted as ordinary files.
	Whiteouts bool
	// OnSkip is told about every entry left out: character and block
	// devices and fifos (reason wraps ErrSpecialFile) and unknown entry
	// types. A non-nil return aborts extraction with that error.
	OnSkip func(name string, reason error) error
	// Rename, when set, maps every cleaned entry name (and hardlink
	// target) to the name it is written as; "" leaves the entry out. Its
	// result is checked as the archive's names are. Used to strip leading
	// components and skip subtrees.
	Rename func(name string) (string, error)
	// LinkTarget, when set, rewrites the target of the symlink name.
	// Whatever it returns, no write ever goes through a link that leaves
	// the destination.
	LinkTarget func(name, target string) string
	// Mode, when set, maps the mode of a file or directory (permission
	// and setuid, setgid and sticky bits) before it is applied.
	Mode func(name string, isDir bool, m fs.FileMode) fs.FileMode
	// KeepDirLinks keeps an existing symlink where a directory entry
	// names it, as dpkg does, when it leads to a directory inside the
	// destination; the entries beneath then go through it. Otherwise the
	// link is replaced by the directory.
	KeepDirLinks bool
	// MaxBytes, when above zero, bounds the bytes of regular files one
	// Extractor writes in all, and MaxEntries the entries it writes: an
	// archive past either fails with ErrTooLarge before the entry that
	// would pass it is written (a decompression bomb fills no disk).
	MaxBytes   int64
	MaxEntries int
}

// ErrTooLarge is the error of an archive past Options.MaxBytes or
// Options.MaxEntries.
var ErrTooLarge = errors.New("archive too large")

// Extract unpacks the tar stream r beneath dest, creating dest if needed;
// see Extractor.
func Extract(ctx context.Context, r io.Reader, dest string, opts Options) error {
	x, err := New(dest, opts)
	if err != nil {
		return err
	}
	defer x.Close()
	if err := x.Tar(ctx, r); err != nil {
		return err
	}
	return x.Finish()
}

// CleanRel cleans a slash-separated relative archive name. It returns "."
// for the root and ErrUnsafePath for names that leave the root.
func CleanRel(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("empty name: %w", ErrUnsafePath)
	}
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("absolute name %q: %w", name, ErrUnsafePath)
	}
	n := path.Clean(name)
	if n == ".." || strings.HasPrefix(n, "../") {
		return "", fmt.Errorf("name %q: %w", name, ErrUnsafePath)
	}
	return n, nil
}

// FileMode converts a tar header mode to permission and special bits.
func FileMode(v int64) fs.FileMode {
	m := fs.FileMode(v & 0o777)
	if v&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if v&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if v&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// ContextReader returns r stopping with ctx's error once ctx is done, so
// a long copy from it can be cancelled.
func ContextReader(ctx context.Context, r io.Reader) io.Reader { return ctxReader{ctx, r} }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Owner is a numeric user and group.
type Owner struct {
	UID, GID int
}

// WriteFile creates name in root, which must not exist yet, with the
// contents of r, then gives it owner (when not nil), mode and modification
// time t. The mode is applied after the owner, as chown clears setuid and
// setgid bits.
func WriteFile(ctx context.Context, root *os.Root, name string, r io.Reader, owner *Owner, mode fs.FileMode, t time.Time) (err error) {
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	if err := copySparse(f, ctxReader{ctx, r}); err != nil {
		return err
	}
	if owner != nil {
		if err := f.Chown(owner.UID, owner.GID); err != nil {
			return err
		}
	}
	return chmodTimes(f, mode, t)
}

// sparseBlock is the unit copySparse looks at: a block of zeros in it
// becomes a hole.
const sparseBlock = 64 << 10

var zeroBlock [sparseBlock]byte

// copySparse copies r to the new file f, seeking over blocks of zeros
// instead of writing them, so a sparse file (a disk image, a database
// file) stays sparse and a run of zeros takes no disk; the file's size is
// set at the end, holes and all.
func copySparse(f *os.File, r io.Reader) error {
	buf := make([]byte, sparseBlock)
	var size int64
	hole := false
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			size += int64(n)
			if bytes.Equal(buf[:n], zeroBlock[:n]) {
				if _, serr := f.Seek(int64(n), io.SeekCurrent); serr != nil {
					return serr
				}
				hole = true
			} else if _, werr := f.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if hole {
		return f.Truncate(size)
	}
	return nil
}

// ChmodTimes sets the mode and modification time of name in root, a
// directory (or file) already created.
func ChmodTimes(root *os.Root, name string, mode fs.FileMode, t time.Time) error {
	f, err := root.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return chmodTimes(f, mode, t)
}

func chmodTimes(f *os.File, mode fs.FileMode, t time.Time) error {
	if err := f.Chmod(mode); err != nil {
		return err
	}
	return SetTimes(f, "", t)
}

// Lchtimes sets the times of name in root without following a final
// symlink.
func Lchtimes(root *os.Root, name string, t time.Time) error {
	d, err := root.Open(path.Dir(name))
	if err != nil {
		return err
	}
	defer d.Close()
	return SetTimes(d, path.Base(name), t)
}

type dirFix struct {
	mode  fs.FileMode
	mtime time.Time
}

// Extractor writes archive entries beneath a destination directory.
//
// All file system access goes through an os.Root of the destination: an
// entry whose cleaned name is absolute or climbs out with "..", a hardlink
// to a name outside, and any write through a symlink leading outside fail
// with an error naming the entry. Modes (setuid, setgid and sticky bits
// included), symlink targets, hardlinks and modification times are kept;
// directory modes and times are applied by Finish, so a read-only
// directory can still be filled. Devices and fifos are skipped. An
// existing entry is replaced, never written through (a hardlinked file is
// unlinked, not truncated); an existing directory is kept when the entry
// is a directory.
type Extractor struct {
	root *os.Root
	opts Options
	// dirs holds directory modes and times applied by finish.
	dirs map[string]dirFix
	// written holds every name the current layer created, with all its
	// ancestors; whiteouts never remove these.
	written map[string]bool
	// bytes and entries count what was written, against the caps.
	bytes   int64
	entries int
}

// New opens dest, creating it if needed, for extraction. Close it when
// done; call Finish first to apply directory modes and times.
func New(dest string, opts Options) (*Extractor, error) {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return nil, fmt.Errorf("creating extraction root: %w", err)
	}
	root, err := os.OpenRoot(dest)
	if err != nil {
		return nil, fmt.Errorf("opening extraction root: %w", err)
	}
	return &Extractor{root: root, opts: opts, dirs: map[string]dirFix{}}, nil
}

// Close releases the destination.
func (x *Extractor) Close() error { return x.root.Close() }

// Tar extracts the tar stream r, one layer: whiteouts in it affect only
// what earlier calls wrote.
func (x *Extractor) Tar(ctx context.Context, r io.Reader) error {
	x.written = map[string]bool{}
	tr := tar.NewReader(ctxReader{ctx, r})
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading tar: %w", err)
		}
		if err := x.entry(ctx, tr, h); err != nil {
			return err
		}
	}
}

// count adds h to what the extractor wrote, failing past its caps.
func (x *Extractor) count(h *tar.Header) error {
	x.entries++
	if m := x.opts.MaxEntries; m > 0 && x.entries > m {
		return fmt.Errorf("more than %d entries: %w", m, ErrTooLarge)
	}
	if h.Typeflag == tar.TypeReg || h.Typeflag == tar.TypeGNUSparse {
		if h.Size < 0 {
			return fmt.Errorf("negative size %d", h.Size)
		}
		x.bytes += h.Size
		if m := x.opts.MaxBytes; m > 0 && x.bytes > m {
			return fmt.Errorf("more than %d bytes of files: %w", m, ErrTooLarge)
		}
	}
	return nil
}

func (x *Extractor) skip(name string, reason error) error {
	if x.opts.OnSkip == nil {
		return nil
	}
	return x.opts.OnSkip(name, reason)
}

// Entry writes one entry whose contents (for a regular file) r holds. It
// is how archives other than tar streams (zip files) are extracted.
func (x *Extractor) Entry(ctx context.Context, h *tar.Header, r io.Reader) error {
	if x.written == nil {
		x.written = map[string]bool{}
	}
	return x.entry(ctx, r, h)
}

func (x *Extractor) entry(ctx context.Context, r io.Reader, h *tar.Header) error {
	if err := x.count(h); err != nil {
		return fmt.Errorf("extracting %q: %w", h.Name, err)
	}
	if err := x.entryNamed(ctx, r, h); err != nil {
		return fmt.Errorf("extracting %q: %w", h.Name, err)
	}
	return nil
}

// name cleans an archive name and applies Rename; "" leaves the entry out.
func (x *Extractor) name(raw string) (string, error) {
	name, err := CleanRel(raw)
	if err != nil || x.opts.Rename == nil {
		return name, err
	}
	if name, err = x.opts.Rename(name); err != nil || name == "" {
		return "", err
	}
	return CleanRel(name)
}

func (x *Extractor) mode(name string, isDir bool, v int64) fs.FileMode {
	m := FileMode(v)
	if x.opts.Mode != nil {
		m = x.opts.Mode(name, isDir, m)
	}
	return m
}

func (x *Extractor) entryNamed(ctx context.Context, r io.Reader, h *tar.Header) error {
	if h.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	if x.opts.Whiteouts {
		name, err := CleanRel(h.Name)
		if err != nil {
			return err
		}
		if base := path.Base(name); strings.HasPrefix(base, ".wh.") {
			return x.whiteout(path.Dir(name), base)
		}
	}
	name, err := x.name(h.Name)
	if err != nil || name == "" {
		return err
	}
	if name == "." && h.Typeflag != tar.TypeDir {
		return errors.New("only a directory may name the extraction root")
	}
	switch h.Typeflag {
	case tar.TypeDir:
		return x.dir(name, h)
	case tar.TypeReg, tar.TypeGNUSparse:
		return x.file(ctx, r, name, h)
	case tar.TypeSymlink:
		return x.symlink(name, h)
	case tar.TypeLink:
		return x.link(name, h)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return x.skip(name, fmt.Errorf("%s: %w", name, ErrSpecialFile))
	default:
		return x.skip(name, fmt.Errorf("%s: unsupported tar entry type %q", name, h.Typeflag))
	}
}

// prepare creates the parents of name and removes whatever is at name,
// except an existing directory when keepDir is set. It reports whether
// that directory exists.
func (x *Extractor) prepare(name string, keepDir bool) (bool, error) {
	x.markWritten(name)
	if name == "." {
		return true, nil
	}
	if dir := path.Dir(name); dir != "." {
		if err := x.root.MkdirAll(dir, 0o755); err != nil {
			return false, err
		}
	}
	fi, err := x.root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if keepDir && fi.IsDir() {
		return true, nil
	}
	if err := x.remove(name, fi.IsDir()); err != nil {
		return false, err
	}
	return false, nil
}

func (x *Extractor) remove(name string, wasDir bool) error {
	if err := x.root.RemoveAll(name); err != nil {
		return err
	}
	if wasDir {
		for k := range x.dirs {
			if k == name || strings.HasPrefix(k, name+"/") {
				delete(x.dirs, k)
			}
		}
	}
	return nil
}

func (x *Extractor) markWritten(name string) {
	for n := name; !x.written[n]; n = path.Dir(n) {
		x.written[n] = true
		if n == "." {
			break
		}
	}
}

func (x *Extractor) chown(name string, h *tar.Header) error {
	if !x.opts.PreserveOwner {
		return nil
	}
	return x.root.Lchown(name, h.Uid, h.Gid)
}

func (x *Extractor) dir(name string, h *tar.Header) error {
	if x.opts.KeepDirLinks && name != "." {
		if fi, err := x.root.Lstat(name); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			// Stat through an os.Root fails for a link that leaves it.
			if st, err := x.root.Stat(name); err != nil || !st.IsDir() {
				return fmt.Errorf("directory is a link that leaves the destination or is not a directory: %w", ErrUnsafePath)
			}
			x.markWritten(name)
			return nil
		}
	}
	exists, err := x.prepare(name, true)
	if err != nil {
		return err
	}
	if !exists {
		// Owner-writable until finish applies the real mode.
		if err := x.root.Mkdir(name, 0o700); err != nil {
			return err
		}
	}
	if err := x.chown(name, h); err != nil {
		return err
	}
	x.dirs[name] = dirFix{mode: x.mode(name, true, h.Mode), mtime: h.ModTime}
	return nil
}

func (x *Extractor) file(ctx context.Context, r io.Reader, name string, h *tar.Header) error {
	if _, err := x.prepare(name, false); err != nil {
		return err
	}
	var owner *Owner
	if x.opts.PreserveOwner {
		owner = &Owner{h.Uid, h.Gid}
	}
	return WriteFile(ctx, x.root, name, r, owner, x.mode(name, false, h.Mode), h.ModTime)
}

func (x *Extractor) symlink(name string, h *tar.Header) error {
	if h.Linkname == "" {
		return errors.New("symlink with an empty target")
	}
	target := h.Linkname
	if x.opts.LinkTarget != nil {
		target = x.opts.LinkTarget(name, target)
	}
	if _, err := x.prepare(name, false); err != nil {
		return err
	}
	if err := x.root.Symlink(target, name); err != nil {
		return err
	}
	if err := x.chown(name, h); err != nil {
		return err
	}
	return Lchtimes(x.root, name, h.ModTime)
}

func (x *Extractor) link(name string, h *tar.Header) error {
	target, err := x.name(h.Linkname)
	if err != nil {
		return fmt.Errorf("hardlink target: %w", err)
	}
	if target == "" {
		return fmt.Errorf("hardlink to %q, an entry left out", h.Linkname)
	}
	if target == name || target == "." {
		return fmt.Errorf("hardlink to %q: not a file", h.Linkname)
	}
	if _, err := x.prepare(name, false); err != nil {
		return err
	}
	return x.root.Link(target, name)
}

// whiteout applies an OCI whiteout found in dir. Entries the current layer
// wrote are not affected.
func (x *Extractor) whiteout(dir, base string) error {
	if base == ".wh..wh..opq" {
		x.markWritten(dir)
		fi, err := x.root.Lstat(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return nil
		}
		return x.clearLower(dir)
	}
	if strings.HasPrefix(base, ".wh..wh.") {
		return nil // other AUFS metadata: nothing to apply
	}
	victim := strings.TrimPrefix(base, ".wh.")
	if victim == "" || victim == "." || victim == ".." {
		return fmt.Errorf("whiteout of %q: %w", victim, ErrUnsafePath)
	}
	name := path.Join(dir, victim)
	if x.written[name] {
		return nil
	}
	fi, err := x.root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return x.remove(name, fi.IsDir())
}

// clearLower removes everything beneath dir that the current layer did not
// write.
func (x *Extractor) clearLower(dir string) error {
	d, err := x.root.Open(dir)
	if err != nil {
		return err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("listing %s: %w", dir, err)
	}
	slices.Sort(names)
	for _, n := range names {
		child := path.Join(dir, n)
		fi, err := x.root.Lstat(child)
		if err != nil {
			return err
		}
		if !x.written[child] {
			if err := x.remove(child, fi.IsDir()); err != nil {
				return err
			}
			continue
		}
		if fi.IsDir() {
			if err := x.clearLower(child); err != nil {
				return err
			}
		}
	}
	return nil
}

// Finish applies directory modes and times, deepest first.
func (x *Extractor) Finish() error {
	names := make([]string, 0, len(x.dirs))
	for n := range x.dirs {
		names = append(names, n)
	}
	slices.Sort(names)
	slices.Reverse(names)
	for _, n := range names {
		fix := x.dirs[n]
		if err := x.fixDir(n, fix); err != nil {
			return fmt.Errorf("setting mode of %s: %w", n, err)
		}
	}
	x.dirs = map[string]dirFix{}
	return nil
}

func (x *Extractor) fixDir(name string, fix dirFix) error {
	fi, err := x.root.Lstat(name)
	if err != nil || !fi.IsDir() {
		return nil // replaced or removed since
	}
	return ChmodTimes(x.root, name, fix.mode, fix.mtime)
}
