package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/extract"
)

// Source writes one uncompressed tar stream.
type Source interface {
	Write(ctx context.Context, w io.Writer) error
}

var _ Source = (*Tar)(nil)

// Option configures a Tar.
type Option func(*Tar)

// WithModTime sets the modification time written for every entry (callers
// pass SOURCE_DATE_EPOCH here when it is set). It is truncated to whole
// seconds; the default is DefaultModTime.
func WithModTime(t time.Time) Option {
	return func(a *Tar) { a.modTime = t.UTC().Truncate(time.Second) }
}

// Tar collects entries and writes them as one reproducible tar stream:
// entries sorted by name (bytewise, path separators first), every time equal to the chosen
// modification time, numeric owners as given, empty user and group names,
// no access or change times and no extended attributes. PAX or GNU records
// appear only where USTAR cannot hold a value (long names, huge ids).
//
// Every missing parent directory of an added entry is implied. Implied
// directories yield to an explicit entry of the same name whenever it is
// added; between implied ones the first added wins. Adding two different
// explicit entries under one name is an error.
//
// A Tar is not safe for concurrent use.
type Tar struct {
	modTime time.Time
	items   map[string]*item
}

// item is one planned entry. A file's content comes from data, from a
// trusted host path, or from rel inside the host tree root.
type item struct {
	kind     Kind
	mode     fs.FileMode
	owner    Owner
	data     []byte
	hostPath string
	root     string
	rel      string
	target   string
	implied  bool
}

func (i *item) same(o *item) bool {
	return i.kind == o.kind && i.mode == o.mode && i.owner == o.owner &&
		bytes.Equal(i.data, o.data) && i.hostPath == o.hostPath &&
		i.root == o.root && i.rel == o.rel && i.target == o.target
}

// NewTar returns an empty Tar.
func NewTar(opts ...Option) *Tar {
	t := &Tar{modTime: DefaultModTime, items: map[string]*item{}}
	for _, o := range opts {
		o(t)
	}
	return t
}

// Len reports how many entries, implied directories included, the Tar holds.
func (t *Tar) Len() int { return len(t.items) }

// Names returns the entry names in the order Write emits them, directories
// with a trailing "/".
func (t *Tar) Names() []string {
	names := t.sortedNames()
	for i, n := range names {
		if t.items[n].kind == KindDir {
			names[i] = n + "/"
		}
	}
	return names
}

func (t *Tar) sortedNames() []string {
	names := make([]string, 0, len(t.items))
	for n := range t.items {
		names = append(names, n)
	}
	slices.SortFunc(names, compareNames)
	return names
}

// compareNames orders names bytewise, except that "/" sorts before every
// other byte: a directory's entries follow it without interruption
// ("a/", "a/c", "a-b").
func compareNames(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		ca, cb := a[i], b[i]
		if ca == cb {
			continue
		}
		if ca == '/' {
			return -1
		}
		if cb == '/' {
			return 1
		}
		return int(ca) - int(cb)
	}
	return len(a) - len(b)
}

// Add adds a synthetic entry. Its missing parent directories are implied
// with mode 0755 and the entry's owner; add them explicitly to choose
// otherwise.
func (t *Tar) Add(e Entry) error {
	name, err := cleanRel(strings.TrimLeft(e.Name, "/"))
	if err != nil {
		return fmt.Errorf("adding entry: %w", err)
	}
	if name == "." {
		return fmt.Errorf("adding entry %q: the archive root cannot be an entry", e.Name)
	}
	it := &item{kind: e.Kind, mode: permBits(e.Mode), owner: e.Owner}
	switch e.Kind {
	case KindDir:
	case KindFile:
		if e.Data != nil && e.HostPath != "" {
			return fmt.Errorf("adding file %s: both Data and HostPath are set", name)
		}
		it.data, it.hostPath = e.Data, e.HostPath
	case KindSymlink:
		if e.Target == "" {
			return fmt.Errorf("adding symlink %s: empty target", name)
		}
		it.target, it.mode = e.Target, 0o777
	default:
		return fmt.Errorf("adding entry %s: unknown kind %v", name, e.Kind)
	}
	t.implyParents(name, 0o755, e.Owner)
	return t.put(name, it)
}

// put stores it under name, applying the implied/explicit rules.
func (t *Tar) put(name string, it *item) error {
	old, ok := t.items[name]
	switch {
	case !ok:
		t.items[name] = it
	case it.implied:
		// An implied entry never replaces anything.
	case old.implied:
		t.items[name] = it
	case !old.same(it):
		return fmt.Errorf("adding %s: a different %s entry already has that name", name, old.kind)
	}
	return nil
}

// implyParents adds implied directories for every ancestor of name.
func (t *Tar) implyParents(name string, mode fs.FileMode, o Owner) {
	for d := path.Dir(name); d != "."; d = path.Dir(d) {
		if _, ok := t.items[d]; !ok {
			t.items[d] = &item{kind: KindDir, mode: mode, owner: o, implied: true}
		}
	}
}

// DirOptions control how a host tree is added.
type DirOptions struct {
	// Owner owns every entry taken from the host tree.
	Owner Owner
	// ParentMode and ParentOwner apply to the implied parent directories of
	// the prefix ("layers/" and "layers/my_bp/" for prefix
	// "layers/my_bp/node"). ParentMode 0 means 0755.
	ParentMode  fs.FileMode
	ParentOwner Owner
	// OnSkip is told about every socket, fifo or device left out (reason
	// wraps ErrSpecialFile). A non-nil return aborts the walk with that error.
	OnSkip func(hostPath string, reason error) error
}

func (o DirOptions) parentMode() fs.FileMode {
	if o.ParentMode == 0 {
		return 0o755
	}
	return permBits(o.ParentMode)
}

// AddDir adds the host directory hostDir and everything beneath it under
// prefix: hostDir itself becomes the prefix directory (unless the prefix is
// empty), with its host permission bits. Symlinks are stored as symlinks,
// never followed; hardlinked files are stored as independent regular files,
// so the result does not depend on how the host tree was linked. Sockets,
// fifos and devices are skipped. File contents are read by Write.
func (t *Tar) AddDir(ctx context.Context, hostDir, prefix string, o DirOptions) error {
	pre, err := cleanPrefix(prefix)
	if err != nil {
		return fmt.Errorf("adding %s: %w", hostDir, err)
	}
	// Follow a symlinked hostDir once, so the walk starts at a directory.
	resolved, err := filepath.EvalSymlinks(hostDir)
	if err != nil {
		return fmt.Errorf("adding dir: %w", err)
	}
	fi, err := os.Stat(resolved)
	if err != nil {
		return fmt.Errorf("adding dir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("adding %s: not a directory", hostDir)
	}
	hostDir = resolved
	if pre != "." {
		t.implyParents(pre, o.parentMode(), o.ParentOwner)
	}
	return t.walk(ctx, hostDir, ".", pre, o)
}

// AddPaths adds only the listed paths of hostDir under prefix (an app-image
// slice). Paths are relative to hostDir; a directory brings its whole
// subtree. The directories leading to each path, hostDir included, are
// added with their host permission bits and o.Owner, yielding to explicit
// entries. A path leading through a symlink, or missing, is an error.
func (t *Tar) AddPaths(ctx context.Context, hostDir, prefix string, paths []string, o DirOptions) error {
	pre, err := cleanPrefix(prefix)
	if err != nil {
		return fmt.Errorf("adding paths of %s: %w", hostDir, err)
	}
	resolved, err := filepath.EvalSymlinks(hostDir)
	if err != nil {
		return fmt.Errorf("adding paths: %w", err)
	}
	hostDir = resolved
	root, err := os.OpenRoot(hostDir)
	if err != nil {
		return fmt.Errorf("adding paths: %w", err)
	}
	defer root.Close()
	if pre != "." {
		t.implyParents(pre, o.parentMode(), o.ParentOwner)
		fi, err := root.Stat(".")
		if err != nil {
			return fmt.Errorf("adding paths of %s: %w", hostDir, err)
		}
		t.items[pre] = weakDir(t.items[pre], fi, o.Owner)
	}
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := cleanRel(filepath.ToSlash(p))
		if err != nil {
			return fmt.Errorf("adding %s from %s: %w", p, hostDir, err)
		}
		if rel == "." {
			if err := t.walk(ctx, hostDir, ".", pre, o); err != nil {
				return err
			}
			continue
		}
		var dirs []string
		for d := path.Dir(rel); d != "."; d = path.Dir(d) {
			dirs = append(dirs, d)
		}
		slices.Reverse(dirs)
		for _, d := range dirs {
			fi, err := root.Lstat(d)
			if err != nil {
				return fmt.Errorf("adding %s from %s: %w", rel, hostDir, err)
			}
			if !fi.IsDir() {
				return fmt.Errorf("adding %s from %s: %s is not a directory", rel, hostDir, d)
			}
			n := path.Join(pre, d)
			t.items[n] = weakDir(t.items[n], fi, o.Owner)
		}
		if _, err := root.Lstat(rel); err != nil {
			return fmt.Errorf("adding %s from %s: %w", rel, hostDir, err)
		}
		if err := t.walk(ctx, hostDir, rel, pre, o); err != nil {
			return err
		}
	}
	return nil
}

// weakDir returns old when it exists, else an implied directory with the
// host mode of fi.
func weakDir(old *item, fi fs.FileInfo, o Owner) *item {
	if old != nil {
		return old
	}
	return &item{kind: KindDir, mode: permBits(fi.Mode()), owner: o, implied: true}
}

// walk adds hostDir/start and everything beneath it, named under prefix.
func (t *Tar) walk(ctx context.Context, hostDir, start, prefix string, o DirOptions) error {
	top := filepath.Join(hostDir, filepath.FromSlash(start))
	return filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walking %s: %w", p, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		relOS, err := filepath.Rel(hostDir, p)
		if err != nil {
			return fmt.Errorf("walking %s: %w", p, err)
		}
		rel := filepath.ToSlash(relOS)
		name := path.Join(prefix, rel)
		if name == "." {
			return nil // the archive root itself has no entry
		}
		fi, err := d.Info()
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		it := &item{mode: permBits(fi.Mode()), owner: o.Owner}
		switch {
		case fi.Mode().IsDir():
			it.kind = KindDir
		case fi.Mode().IsRegular():
			it.kind, it.root, it.rel = KindFile, hostDir, rel
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("reading link %s: %w", p, err)
			}
			it.kind, it.target, it.mode = KindSymlink, target, 0o777
		default:
			if o.OnSkip != nil {
				return o.OnSkip(p, fmt.Errorf("%s (%s): %w", p, fi.Mode().Type(), ErrSpecialFile))
			}
			return nil
		}
		return t.put(name, it)
	})
}

// Write emits the collected entries as a tar stream, reading host file
// contents as it goes, and writes the end-of-archive trailer. It does not
// close w.
func (t *Tar) Write(ctx context.Context, w io.Writer) error {
	tw := tar.NewWriter(w)
	roots := map[string]*os.Root{}
	defer func() {
		for _, r := range roots {
			r.Close()
		}
	}()
	for _, name := range t.sortedNames() {
		if err := ctx.Err(); err != nil {
			return err
		}
		it := t.items[name]
		if parent := path.Dir(name); parent != "." {
			if p := t.items[parent]; p == nil || p.kind != KindDir {
				return fmt.Errorf("writing %s: parent %s is not a directory entry", name, parent)
			}
		}
		if err := t.writeItem(ctx, tw, roots, name, it); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("finishing tar: %w", err)
	}
	return nil
}

func (t *Tar) header(name string, it *item) *tar.Header {
	h := &tar.Header{
		Name:    name,
		Mode:    tarMode(it.mode),
		Uid:     it.owner.UID,
		Gid:     it.owner.GID,
		ModTime: t.modTime,
	}
	switch it.kind {
	case KindDir:
		h.Typeflag, h.Name = tar.TypeDir, name+"/"
	case KindFile:
		h.Typeflag = tar.TypeReg
	case KindSymlink:
		h.Typeflag, h.Linkname = tar.TypeSymlink, it.target
	}
	return h
}

func (t *Tar) writeItem(ctx context.Context, tw *tar.Writer, roots map[string]*os.Root, name string, it *item) error {
	h := t.header(name, it)
	if it.kind != KindFile {
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("writing header of %s: %w", name, err)
		}
		return nil
	}
	if it.hostPath == "" && it.root == "" {
		h.Size = int64(len(it.data))
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("writing header of %s: %w", name, err)
		}
		if _, err := tw.Write(it.data); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
		return nil
	}
	f, src, err := openContent(roots, it)
	if err != nil {
		return fmt.Errorf("archiving %s: %w", name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("reading %s: %w", src, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("reading %s: no longer a regular file", src)
	}
	h.Size = fi.Size()
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("writing header of %s: %w", name, err)
	}
	n, err := io.CopyN(tw, extract.ContextReader(ctx, f), h.Size)
	if err != nil {
		if err == io.EOF {
			return fmt.Errorf("reading %s: file shrank to %d bytes while being archived", src, n)
		}
		return fmt.Errorf("archiving %s: %w", src, err)
	}
	return nil
}

// openContent opens the host file behind a file item. Files from a host
// tree are opened through an os.Root of that tree, so a directory swapped
// for a symlink after the walk cannot lead the read outside it.
func openContent(roots map[string]*os.Root, it *item) (*os.File, string, error) {
	if it.hostPath != "" {
		f, err := os.Open(it.hostPath)
		if err != nil {
			return nil, it.hostPath, err
		}
		return f, it.hostPath, nil
	}
	src := filepath.Join(it.root, filepath.FromSlash(it.rel))
	r := roots[it.root]
	if r == nil {
		var err error
		if r, err = os.OpenRoot(it.root); err != nil {
			return nil, src, err
		}
		roots[it.root] = r
	}
	f, err := r.Open(it.rel)
	if err != nil {
		return nil, src, fmt.Errorf("opening %s: %w", src, err)
	}
	return f, src, nil
}
