package unpack

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Options adjust extraction.
type Options struct {
	// StripComponents drops that many leading path elements from every
	// name; entries with fewer elements are skipped.
	StripComponents int
	// Skip, when set, leaves out entries whose (stripped, slash-separated,
	// relative) name it returns true for; a skipped directory is not
	// descended into.
	Skip func(name string) bool
	// RebaseAbsoluteLinks rewrites symbolic links with absolute targets to
	// point at the same path under the destination, as Debian packages
	// expect to be unpacked at /.
	RebaseAbsoluteLinks bool
	// Executable, when set, forces mode 0755 on regular files it returns
	// true for (zip files from module proxies carry no modes).
	Executable func(name string) bool
}

// Decompress returns a reader that undoes gzip, xz or zstd compression,
// recognised by magic number; other data is returned as it is.
func Decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(6)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading archive header: %w", err)
	}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("reading gzip header: %w", err)
		}
		return zr, nil
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		xr, err := xz.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("reading xz header: %w", err)
		}
		return io.NopCloser(xr), nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("reading zstd header: %w", err)
		}
		return zr.IOReadCloser(), nil
	}
	return io.NopCloser(br), nil
}

// extractor writes entries below dest.
type extractor struct {
	dest string
	opts Options
	safe map[string]bool // directories known to resolve inside dest
}

func newExtractor(dest string, opts Options) (*extractor, error) {
	abs, err := filepath.Abs(dest)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", dest, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", abs, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", abs, err)
	}
	return &extractor{dest: real, opts: opts, safe: map[string]bool{real: true}}, nil
}

// name turns an archive name into a relative, cleaned, stripped name, or
// "" to skip the entry. Names escaping the root are errors.
func (x *extractor) name(raw string) (string, error) {
	n := strings.TrimPrefix(raw, "./")
	if n == "" || n == "." {
		return "", nil
	}
	if path.IsAbs(n) || strings.Contains(n, "\\") {
		return "", fmt.Errorf("entry %q: absolute or backslash names are not allowed", raw)
	}
	for _, el := range strings.Split(strings.TrimSuffix(n, "/"), "/") {
		if el == ".." {
			return "", fmt.Errorf("entry %q escapes the destination", raw)
		}
	}
	n = path.Clean(n)
	if x.opts.StripComponents > 0 {
		parts := strings.Split(n, "/")
		if len(parts) <= x.opts.StripComponents {
			return "", nil
		}
		n = strings.Join(parts[x.opts.StripComponents:], "/")
	}
	if x.opts.Skip != nil {
		for p := n; p != "." && p != "/"; p = path.Dir(p) {
			if x.opts.Skip(p) {
				return "", nil
			}
		}
	}
	return n, nil
}

// parent makes sure the parent directory of rel exists and resolves inside
// the destination, and returns the full path of rel.
func (x *extractor) parent(rel string) (string, error) {
	full := filepath.Join(x.dest, filepath.FromSlash(rel))
	dir := filepath.Dir(full)
	if x.safe[dir] {
		return full, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", dir, err)
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", dir, err)
	}
	if !within(x.dest, real) {
		return "", fmt.Errorf("entry %q would be written through a link that leaves the destination", rel)
	}
	x.safe[dir] = true
	return full, nil
}

func within(root, p string) bool {
	r, err := filepath.Rel(root, p)
	return err == nil && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator))
}

func (x *extractor) dir(rel string, mode fs.FileMode) error {
	full, err := x.parent(rel)
	if err != nil {
		return err
	}
	if fi, err := os.Lstat(full); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		// a directory entry over an existing link: keep the link, as
		// dpkg does, but only if it stays inside
		real, err := filepath.EvalSymlinks(full)
		if err != nil || !within(x.dest, real) {
			return fmt.Errorf("entry %q: directory is a link that leaves the destination", rel)
		}
		return nil
	}
	if err := os.MkdirAll(full, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", full, err)
	}
	return os.Chmod(full, (mode.Perm()|0o700)&0o755)
}

func (x *extractor) file(rel string, mode fs.FileMode, r io.Reader) error {
	full, err := x.parent(rel)
	if err != nil {
		return err
	}
	perm := mode.Perm() & 0o755
	if x.opts.Executable != nil && x.opts.Executable(rel) {
		perm = 0o755
	}
	if perm == 0 {
		perm = 0o644
	}
	perm |= 0o600 // the build user must be able to rewrite what it unpacked
	_ = os.Remove(full)
	f, err := os.OpenFile(full, os.O_CREATE|os.O_WRONLY|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("creating %s: %w", full, err)
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", full, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", full, err)
	}
	return os.Chmod(full, perm)
}

func (x *extractor) symlink(rel, target string) error {
	full, err := x.parent(rel)
	if err != nil {
		return err
	}
	if path.IsAbs(target) && x.opts.RebaseAbsoluteLinks {
		// point at the same file under the destination, relatively, so
		// the tree can be moved as a whole
		abs := filepath.Join(x.dest, filepath.FromSlash(target))
		r, err := filepath.Rel(filepath.Dir(full), abs)
		if err != nil {
			return fmt.Errorf("entry %q: rebasing link %q: %w", rel, target, err)
		}
		target = r
	}
	_ = os.Remove(full)
	if err := os.Symlink(target, full); err != nil {
		return fmt.Errorf("creating link %s: %w", full, err)
	}
	return nil
}

func (x *extractor) hardlink(rel, target string) error {
	t, err := x.name(target)
	if err != nil {
		return fmt.Errorf("entry %q: link target: %w", rel, err)
	}
	if t == "" {
		return fmt.Errorf("entry %q: hard link to a skipped entry %q", rel, target)
	}
	full, err := x.parent(rel)
	if err != nil {
		return err
	}
	src := filepath.Join(x.dest, filepath.FromSlash(t))
	real, err := filepath.EvalSymlinks(src)
	if err != nil || !within(x.dest, real) {
		return fmt.Errorf("entry %q: hard link target %q is not inside the destination", rel, target)
	}
	_ = os.Remove(full)
	if err := os.Link(real, full); err != nil {
		return fmt.Errorf("linking %s: %w", full, err)
	}
	return nil
}

// Tar extracts the tar stream r (compressed or not) into dest.
func Tar(r io.Reader, dest string, opts Options) error {
	dr, err := Decompress(r)
	if err != nil {
		return err
	}
	defer dr.Close()
	x, err := newExtractor(dest, opts)
	if err != nil {
		return err
	}
	tr := tar.NewReader(dr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading tar: %w", err)
		}
		rel, err := x.name(h.Name)
		if err != nil {
			return err
		}
		if rel == "" {
			continue
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = x.dir(rel, h.FileInfo().Mode())
		case tar.TypeReg: // the reader reports the old TypeRegA as TypeReg
			err = x.file(rel, h.FileInfo().Mode(), tr)
		case tar.TypeSymlink:
			err = x.symlink(rel, h.Linkname)
		case tar.TypeLink:
			err = x.hardlink(rel, h.Linkname)
		default:
			// devices, fifos, pax headers: nothing a toolchain needs
		}
		if err != nil {
			return err
		}
	}
}

// Zip extracts the zip file at zipPath into dest.
func Zip(zipPath, dest string, opts Options) error {
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return fmt.Errorf("opening %s: %w", zipPath, err)
	}
	defer zr.Close()
	x, err := newExtractor(dest, opts)
	if err != nil {
		return err
	}
	for _, f := range zr.File {
		rel, err := x.name(f.Name)
		if err != nil {
			return fmt.Errorf("%s: %w", zipPath, err)
		}
		if rel == "" {
			continue
		}
		mode := f.Mode()
		switch {
		case mode.IsDir() || strings.HasSuffix(f.Name, "/"):
			err = x.dir(rel, mode)
		case mode&fs.ModeSymlink != 0:
			err = fmt.Errorf("entry %q: links in zip files are not supported", f.Name)
		default:
			var rc io.ReadCloser
			if rc, err = f.Open(); err == nil {
				err = x.file(rel, mode, rc)
				rc.Close()
			}
		}
		if err != nil {
			return fmt.Errorf("%s: %w", zipPath, err)
		}
	}
	return nil
}
