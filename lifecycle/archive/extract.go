package archive

import (
	"archive/tar"
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

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ExtractOptions control Extract and ExtractImage.
type ExtractOptions struct {
	// PreserveOwner sets each entry's numeric owner from its header, which
	// needs root (or CAP_CHOWN). Otherwise entries belong to the caller.
	PreserveOwner bool
	// Whiteouts interprets OCI whiteout entries: ".wh.<name>" deletes <name>
	// from lower layers and ".wh..wh..opq" empties its directory of lower
	// layers' contents. Otherwise they are extracted as ordinary files.
	// ExtractImage always sets it.
	Whiteouts bool
	// OnSkip is told about every entry left out: character and block
	// devices and fifos (reason wraps ErrSpecialFile) and unknown entry
	// types. A non-nil return aborts extraction with that error.
	OnSkip func(name string, reason error) error
}

// Extract unpacks the tar stream r beneath dest, creating dest if needed.
//
// All file system access goes through an os.Root of dest: an entry whose
// cleaned name is absolute or climbs out with "..", a hardlink to a name
// outside dest, and any write through a symlink leading outside dest fail
// with an error naming the entry. Modes (setuid, setgid and sticky bits
// included), symlink targets, hardlinks and modification times are kept;
// directory modes and times are applied once every entry is written, so a
// read-only directory can still be filled. Devices and fifos are skipped.
// An existing entry is replaced, never written through (a hardlinked file
// is unlinked, not truncated); an existing directory is kept when the entry
// is a directory.
func Extract(ctx context.Context, r io.Reader, dest string, opts ExtractOptions) error {
	x, err := newExtractor(dest, opts)
	if err != nil {
		return err
	}
	defer x.root.Close()
	if err := x.layer(ctx, r); err != nil {
		return err
	}
	return x.finish()
}

// ExtractImage applies the layers of img in order beneath dest, honouring
// whiteouts, as Extract does for each.
func ExtractImage(ctx context.Context, img v1.Image, dest string, opts ExtractOptions) error {
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("listing image layers: %w", err)
	}
	opts.Whiteouts = true
	x, err := newExtractor(dest, opts)
	if err != nil {
		return err
	}
	defer x.root.Close()
	for i, l := range layers {
		if err := extractLayer(ctx, x, l); err != nil {
			d, _ := l.DiffID()
			return fmt.Errorf("layer %d (%s): %w", i, d, err)
		}
	}
	return x.finish()
}

func extractLayer(ctx context.Context, x *extractor, l v1.Layer) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return fmt.Errorf("opening layer: %w", err)
	}
	defer rc.Close()
	return x.layer(ctx, rc)
}

type dirFix struct {
	mode  fs.FileMode
	mtime time.Time
}

type extractor struct {
	root *os.Root
	opts ExtractOptions
	// dirs holds directory modes and times applied by finish.
	dirs map[string]dirFix
	// written holds every name the current layer created, with all its
	// ancestors; whiteouts never remove these.
	written map[string]bool
}

func newExtractor(dest string, opts ExtractOptions) (*extractor, error) {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return nil, fmt.Errorf("creating extraction root: %w", err)
	}
	root, err := os.OpenRoot(dest)
	if err != nil {
		return nil, fmt.Errorf("opening extraction root: %w", err)
	}
	return &extractor{root: root, opts: opts, dirs: map[string]dirFix{}}, nil
}

func (x *extractor) layer(ctx context.Context, r io.Reader) error {
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
			return fmt.Errorf("extracting %q: %w", h.Name, err)
		}
	}
}

func (x *extractor) skip(name string, reason error) error {
	if x.opts.OnSkip == nil {
		return nil
	}
	return x.opts.OnSkip(name, reason)
}

func (x *extractor) entry(ctx context.Context, tr *tar.Reader, h *tar.Header) error {
	if h.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	name, err := cleanRel(h.Name)
	if err != nil {
		return err
	}
	if x.opts.Whiteouts {
		if base := path.Base(name); strings.HasPrefix(base, ".wh.") {
			return x.whiteout(path.Dir(name), base)
		}
	}
	if name == "." && h.Typeflag != tar.TypeDir {
		return errors.New("only a directory may name the extraction root")
	}
	switch h.Typeflag {
	case tar.TypeDir:
		return x.dir(name, h)
	case tar.TypeReg, tar.TypeGNUSparse:
		return x.file(ctx, tr, name, h)
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
func (x *extractor) prepare(name string, keepDir bool) (bool, error) {
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

func (x *extractor) remove(name string, wasDir bool) error {
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

func (x *extractor) markWritten(name string) {
	for n := name; !x.written[n]; n = path.Dir(n) {
		x.written[n] = true
		if n == "." {
			break
		}
	}
}

func (x *extractor) chown(name string, h *tar.Header) error {
	if !x.opts.PreserveOwner {
		return nil
	}
	return x.root.Lchown(name, h.Uid, h.Gid)
}

func (x *extractor) dir(name string, h *tar.Header) error {
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
	x.dirs[name] = dirFix{mode: fileMode(h.Mode), mtime: h.ModTime}
	return nil
}

func (x *extractor) file(ctx context.Context, tr *tar.Reader, name string, h *tar.Header) (err error) {
	if _, err := x.prepare(name, false); err != nil {
		return err
	}
	f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	if _, err := io.Copy(f, ctxReader{ctx, tr}); err != nil {
		return err
	}
	if x.opts.PreserveOwner {
		if err := f.Chown(h.Uid, h.Gid); err != nil {
			return err
		}
	}
	// After chown, which clears setuid and setgid bits.
	if err := f.Chmod(fileMode(h.Mode)); err != nil {
		return err
	}
	return setTimes(f, "", h.ModTime)
}

func (x *extractor) symlink(name string, h *tar.Header) error {
	if h.Linkname == "" {
		return errors.New("symlink with an empty target")
	}
	if _, err := x.prepare(name, false); err != nil {
		return err
	}
	if err := x.root.Symlink(h.Linkname, name); err != nil {
		return err
	}
	if err := x.chown(name, h); err != nil {
		return err
	}
	return x.lchtimes(name, h.ModTime)
}

func (x *extractor) link(name string, h *tar.Header) error {
	target, err := cleanRel(h.Linkname)
	if err != nil {
		return fmt.Errorf("hardlink target: %w", err)
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
func (x *extractor) whiteout(dir, base string) error {
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
func (x *extractor) clearLower(dir string) error {
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

// finish applies directory modes and times, deepest first.
func (x *extractor) finish() error {
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

func (x *extractor) fixDir(name string, fix dirFix) error {
	fi, err := x.root.Lstat(name)
	if err != nil || !fi.IsDir() {
		return nil // replaced or removed since
	}
	d, err := x.root.Open(name)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Chmod(fix.mode); err != nil {
		return err
	}
	return setTimes(d, "", fix.mtime)
}

// lchtimes sets the times of name without following a final symlink.
func (x *extractor) lchtimes(name string, t time.Time) error {
	d, err := x.root.Open(path.Dir(name))
	if err != nil {
		return err
	}
	defer d.Close()
	return setTimes(d, path.Base(name), t)
}
