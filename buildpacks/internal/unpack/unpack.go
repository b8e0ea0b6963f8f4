package unpack

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/kiln-build/kiln/internal/extract"
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
	// MaxBytes and MaxEntries cap what the archive unpacks (bytes of
	// files, entries); zero means DefaultMaxBytes and DefaultMaxEntries.
	MaxBytes   int64
	MaxEntries int
}

// Bounds on what decompression may allocate.
const (
	maxZstdWindow = 128 << 20 // zstd --long=27
	maxZstdMemory = 1 << 30
)

// Default caps on what one archive may unpack (Options.MaxBytes and
// MaxEntries): far above any toolchain or package, far below a full disk.
const (
	DefaultMaxBytes   = 16 << 30
	DefaultMaxEntries = 2_000_000
)

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
		// The xz reader allocates the dictionary each block's header
		// asks for (ulikunitz/xz has no cap: its DictCap is a minimum);
		// this code runs in the build container, whose memory limit
		// bounds a crafted header.
		xr, err := xz.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("reading xz header: %w", err)
		}
		return io.NopCloser(xr), nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxMemory(maxZstdMemory), zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			return nil, fmt.Errorf("reading zstd header: %w", err)
		}
		return zr.IOReadCloser(), nil
	}
	return io.NopCloser(br), nil
}

// extractor returns the shared safe extractor (internal/extract) with
// opts as its hooks: the same hostile-input protections as the lifecycle's
// image layers (os.Root: no absolute or ".." names, no write through a link
// that leaves dest, hardlinks inside only), plus stripping, skipping,
// rebasing absolute links and the build user's modes.
func extractor(dest string, opts Options) (*extract.Extractor, error) {
	abs, err := filepath.Abs(dest)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", dest, err)
	}
	return extract.New(abs, extract.Options{
		Rename:       opts.rename,
		LinkTarget:   opts.linkTarget,
		Mode:         opts.mode,
		KeepDirLinks: true, // as dpkg does: lib -> usr/lib stays a link
		MaxBytes:     orDefault(opts.MaxBytes, DefaultMaxBytes),
		MaxEntries:   int(orDefault(int64(opts.MaxEntries), DefaultMaxEntries)),
	})
}

func orDefault(v, d int64) int64 {
	if v > 0 {
		return v
	}
	return d
}

// rename strips leading components and applies Skip; "" leaves the entry
// out. The name is already cleaned and relative.
func (o Options) rename(n string) (string, error) {
	if n == "." {
		return "", nil
	}
	if o.StripComponents > 0 {
		parts := strings.Split(n, "/")
		if len(parts) <= o.StripComponents {
			return "", nil
		}
		n = strings.Join(parts[o.StripComponents:], "/")
	}
	if o.Skip != nil {
		for p := n; p != "." && p != "/"; p = path.Dir(p) {
			if o.Skip(p) {
				return "", nil
			}
		}
	}
	return n, nil
}

// linkTarget points an absolute link at the same file under the
// destination, relatively, so the tree can be moved as a whole.
func (o Options) linkTarget(name, target string) string {
	if !o.RebaseAbsoluteLinks || !path.IsAbs(target) {
		return target
	}
	r, err := filepath.Rel(path.Dir("/"+name), path.Clean(target))
	if err != nil {
		return target
	}
	return filepath.ToSlash(r)
}

// mode drops setuid, setgid, sticky and group/other write bits and keeps
// what was unpacked writable by the build user.
func (o Options) mode(name string, isDir bool, m fs.FileMode) fs.FileMode {
	if isDir {
		return (m.Perm() | 0o700) & 0o755
	}
	perm := m.Perm() & 0o755
	if o.Executable != nil && o.Executable(name) {
		perm = 0o755
	}
	if perm == 0 {
		perm = 0o644
	}
	return perm | 0o600
}

// Tar extracts the tar stream r (compressed or not) into dest.
func Tar(r io.Reader, dest string, opts Options) error {
	dr, err := Decompress(r)
	if err != nil {
		return err
	}
	defer dr.Close()
	x, err := extractor(dest, opts)
	if err != nil {
		return err
	}
	defer x.Close()
	if err := x.Tar(context.Background(), dr); err != nil {
		return err
	}
	return x.Finish()
}

// Zip extracts the zip file at zipPath into dest.
func Zip(zipPath, dest string, opts Options) error {
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return fmt.Errorf("opening %s: %w", zipPath, err)
	}
	defer zr.Close()
	x, err := extractor(dest, opts)
	if err != nil {
		return err
	}
	defer x.Close()
	for _, f := range zr.File {
		if err := zipEntry(x, f); err != nil {
			return fmt.Errorf("%s: %w", zipPath, err)
		}
	}
	if err := x.Finish(); err != nil {
		return fmt.Errorf("%s: %w", zipPath, err)
	}
	return nil
}

func zipEntry(x *extract.Extractor, f *zip.File) error {
	mode := f.Mode()
	h := &tar.Header{Name: f.Name, Mode: int64(mode.Perm()), ModTime: f.Modified}
	switch {
	case mode.IsDir() || strings.HasSuffix(f.Name, "/"):
		h.Typeflag = tar.TypeDir
		return x.Entry(context.Background(), h, nil)
	case mode&fs.ModeSymlink != 0:
		return fmt.Errorf("entry %q: links in zip files are not supported", f.Name)
	}
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	h.Typeflag = tar.TypeReg
	// The size counts against Options.MaxBytes before anything is written;
	// archive/zip fails a read past it, so the header cannot undercount.
	// A size past int64 turns negative, which the extractor refuses.
	h.Size = int64(f.UncompressedSize64)
	return x.Entry(context.Background(), h, rc)
}
