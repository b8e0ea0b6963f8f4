package archive

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"

	"github.com/kiln-build/kiln/internal/extract"
)

// DefaultCompressionLevel is the gzip level layers are compressed with.
// The level is part of a layer's digest: changing it changes every digest
// (diffIDs stay the same).
const DefaultCompressionLevel = gzip.DefaultCompression

// LayerOption configures NewLayer and LayerFromTar.
type LayerOption func(*layerConfig)

type layerConfig struct {
	mediaType types.MediaType
	level     int
	tempDir   string
}

// WithMediaType sets the layer's media type (default types.OCILayer).
func WithMediaType(mt types.MediaType) LayerOption {
	return func(c *layerConfig) { c.mediaType = mt }
}

// WithCompressionLevel sets the gzip level (default DefaultCompressionLevel).
func WithCompressionLevel(level int) LayerOption {
	return func(c *layerConfig) { c.level = level }
}

// WithTempDir sets where the layer's temporary files go (default os.TempDir).
func WithTempDir(dir string) LayerOption {
	return func(c *layerConfig) { c.tempDir = dir }
}

// Layer is a v1.Layer backed by one file on disk: its gzip-compressed
// form. A layer made by NewLayer keeps no uncompressed copy (Uncompressed
// decompresses the blob; nothing in a build reads it); one made by
// LayerFromTar reads the caller's tar. Close removes the file the Layer
// created.
type Layer struct {
	cfg     layerConfig
	tarPath string // the caller's tar (LayerFromTar only)
	gzPath  string // the compressed blob, owned by the layer
	diffID  v1.Hash

	once   sync.Once
	digest v1.Hash
	size   int64
	err    error
}

var _ v1.Layer = (*Layer)(nil)

func newConfig(opts []LayerOption) layerConfig {
	c := layerConfig{mediaType: types.OCILayer, level: DefaultCompressionLevel}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// NewLayer writes src once, compressing it on the fly into a temporary
// file, and computes its diffID, digest and size in that one pass.
func NewLayer(ctx context.Context, src Source, opts ...LayerOption) (*Layer, error) {
	l := &Layer{cfg: newConfig(opts)}
	diffID, err := l.writeGz(func(w io.Writer) error {
		if err := src.Write(ctx, w); err != nil {
			return fmt.Errorf("writing layer: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	l.diffID = diffID
	l.once.Do(func() {}) // already compressed
	return l, nil
}

// writeGz creates the layer's compressed file and fills it with what
// write writes, setting digest and size and returning the diffID of what
// was written. On failure it removes the file.
func (l *Layer) writeGz(write func(io.Writer) error) (diffID v1.Hash, err error) {
	f, err := os.CreateTemp(l.cfg.tempDir, "kiln-layer-*.tar.gz")
	if err != nil {
		return v1.Hash{}, fmt.Errorf("creating layer file: %w", err)
	}
	l.gzPath = f.Name()
	defer func() {
		if err != nil {
			os.Remove(l.gzPath)
			l.gzPath = ""
		}
	}()
	gf := &bufferedFile{Writer: bufio.NewWriterSize(f, 1<<20), f: f}
	defer func() { err = errors.Join(err, gf.close()) }()
	diffH, digH := sha256.New(), sha256.New()
	counted := &countWriter{w: io.MultiWriter(gf, digH)}
	gz, err := gzip.NewWriterLevel(counted, l.cfg.level)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("compressing layer: %w", err)
	}
	if err := write(io.MultiWriter(diffH, gz)); err != nil {
		return v1.Hash{}, err
	}
	if err := gz.Close(); err != nil {
		return v1.Hash{}, fmt.Errorf("compressing layer: %w", err)
	}
	l.digest, l.size = sum(digH), counted.n
	return sum(diffH), nil
}

// LayerFromTar wraps an existing uncompressed tar whose diffID is already
// known (a cache entry). The tar is compressed on the first call to Digest,
// Size, Compressed or Compress, and its diffID is checked then; a mismatch
// is returned as an error from those calls. Close leaves tarPath alone.
func LayerFromTar(tarPath string, diffID v1.Hash, opts ...LayerOption) (*Layer, error) {
	fi, err := os.Stat(tarPath)
	if err != nil {
		return nil, fmt.Errorf("opening layer tar: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("opening layer tar %s: not a regular file", tarPath)
	}
	if diffID.Algorithm != "sha256" || len(diffID.Hex) != 64 {
		return nil, fmt.Errorf("layer tar %s: diffID %q is not a sha256 digest", tarPath, diffID)
	}
	return &Layer{cfg: newConfig(opts), tarPath: tarPath, diffID: diffID}, nil
}

// Compress compresses a layer made by LayerFromTar now rather than on first
// use, and checks its diffID. It does nothing for a compressed layer.
func (l *Layer) Compress(ctx context.Context) error {
	l.once.Do(func() { l.err = l.compress(ctx) })
	return l.err
}

func (l *Layer) ensure() error { return l.Compress(context.Background()) }

func (l *Layer) compress(ctx context.Context) error {
	in, err := os.Open(l.tarPath)
	if err != nil {
		return fmt.Errorf("compressing layer: %w", err)
	}
	defer in.Close()
	got, err := l.writeGz(func(w io.Writer) error {
		if _, err := io.Copy(w, extract.ContextReader(ctx, in)); err != nil {
			return fmt.Errorf("compressing %s: %w", l.tarPath, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if got != l.diffID {
		os.Remove(l.gzPath)
		l.gzPath = ""
		return fmt.Errorf("layer tar %s has diffID %s, expected %s", l.tarPath, got, l.diffID)
	}
	return nil
}

// Digest returns the sha256 of the compressed layer.
func (l *Layer) Digest() (v1.Hash, error) {
	if err := l.ensure(); err != nil {
		return v1.Hash{}, err
	}
	return l.digest, nil
}

// DiffID returns the sha256 of the uncompressed tar.
func (l *Layer) DiffID() (v1.Hash, error) { return l.diffID, nil }

// Size returns the size of the compressed layer.
func (l *Layer) Size() (int64, error) {
	if err := l.ensure(); err != nil {
		return 0, err
	}
	return l.size, nil
}

// MediaType returns the layer's media type.
func (l *Layer) MediaType() (types.MediaType, error) { return l.cfg.mediaType, nil }

// Compressed opens the gzip-compressed layer.
func (l *Layer) Compressed() (io.ReadCloser, error) {
	if err := l.ensure(); err != nil {
		return nil, err
	}
	f, err := os.Open(l.gzPath)
	if err != nil {
		return nil, fmt.Errorf("opening compressed layer: %w", err)
	}
	return f, nil
}

// Uncompressed opens the uncompressed tar: the caller's tar for a layer
// made by LayerFromTar, else the compressed blob, decompressed as it is
// read.
func (l *Layer) Uncompressed() (io.ReadCloser, error) {
	if l.tarPath != "" {
		f, err := os.Open(l.tarPath)
		if err != nil {
			return nil, fmt.Errorf("opening layer tar: %w", err)
		}
		return f, nil
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(bufio.NewReaderSize(rc, 1<<20))
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("decompressing layer: %w", err)
	}
	return &gzipReadCloser{Reader: zr, file: rc}, nil
}

type gzipReadCloser struct {
	*gzip.Reader
	file io.Closer
}

func (g *gzipReadCloser) Close() error {
	return errors.Join(g.Reader.Close(), g.file.Close())
}

// Close removes the temporary file the Layer created. Readers already
// open keep working until they are closed.
func (l *Layer) Close() error {
	l.once.Do(func() { l.err = errors.New("layer closed") })
	if l.gzPath == "" {
		return nil
	}
	if err := os.Remove(l.gzPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing layer file: %w", err)
	}
	return nil
}

func sum(h hash.Hash) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// bufferedFile is a file behind a large write buffer.
type bufferedFile struct {
	*bufio.Writer
	f *os.File
}

func (b *bufferedFile) close() error {
	ferr := b.Flush()
	cerr := b.f.Close()
	if err := errors.Join(ferr, cerr); err != nil {
		return fmt.Errorf("writing %s: %w", b.f.Name(), err)
	}
	return nil
}
