package buildpackage

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/internal/archive"
)

// Limits on what OpenFile accepts from a .cnb file.
const (
	maxCNBEntries  = 1 << 16
	maxJSONBlob    = 8 << 20
	maxIndexDepth  = 4
	ociLayoutBytes = `{"imageLayoutVersion":"1.0.0"}`
)

// WriteFile writes img to path as a .cnb file: an uncompressed tar of an
// OCI image layout (oci-layout, index.json, blobs/sha256/...). The tar is
// reproducible: entries sorted, times archive.DefaultModTime, owner root.
// It is written beside path and renamed into place, so path is either the
// old file or the complete new one.
func WriteFile(ctx context.Context, path string, img v1.Image) error {
	dir := filepath.Dir(filepath.Clean(path))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, ".kiln-cnb-")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := writeLayoutTar(ctx, f, img); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

type blob struct {
	digest v1.Hash
	size   int64
	data   []byte   // small blobs
	layer  v1.Layer // layer blobs
}

func writeLayoutTar(ctx context.Context, w io.Writer, img v1.Image) error {
	rawManifest, err := img.RawManifest()
	if err != nil {
		return fmt.Errorf("reading the image manifest: %w", err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return fmt.Errorf("reading the image media type: %w", err)
	}
	rawConfig, err := img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("reading the image config: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("reading the image layers: %w", err)
	}
	mDigest, mSize, _ := v1.SHA256(bytes.NewReader(rawManifest))
	cDigest, cSize, _ := v1.SHA256(bytes.NewReader(rawConfig))
	blobs := map[string]blob{
		mDigest.Hex: {digest: mDigest, size: mSize, data: rawManifest},
		cDigest.Hex: {digest: cDigest, size: cSize, data: rawConfig},
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return fmt.Errorf("reading a layer digest: %w", err)
		}
		sz, err := l.Size()
		if err != nil {
			return fmt.Errorf("reading the size of layer %s: %w", d, err)
		}
		if d.Algorithm != "sha256" {
			return fmt.Errorf("layer %s: only sha256 digests go into a .cnb file", d)
		}
		blobs[d.Hex] = blob{digest: d, size: sz, layer: l}
	}
	index, err := json.Marshal(v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		Manifests:     []v1.Descriptor{{MediaType: mt, Size: mSize, Digest: mDigest}},
	})
	if err != nil {
		return fmt.Errorf("encoding index.json: %w", err)
	}

	tw := tar.NewWriter(w)
	mtime := archive.DefaultModTime
	dirHeader := func(name string) *tar.Header {
		return &tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: mtime, Format: tar.FormatUSTAR}
	}
	fileHeader := func(name string, size int64) *tar.Header {
		return &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: size, ModTime: mtime, Format: tar.FormatUSTAR}
	}
	for _, h := range []*tar.Header{dirHeader("blobs/"), dirHeader("blobs/sha256/")} {
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
	}
	keys := make([]string, 0, len(blobs))
	for k := range blobs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		b := blobs[k]
		if err := tw.WriteHeader(fileHeader("blobs/sha256/"+k, b.size)); err != nil {
			return err
		}
		if b.layer == nil {
			if _, err := tw.Write(b.data); err != nil {
				return err
			}
			continue
		}
		if err := copyLayer(tw, b); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{"index.json", index}, {"oci-layout", []byte(ociLayoutBytes)}} {
		if err := tw.WriteHeader(fileHeader(f.name, int64(len(f.data)))); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	return tw.Close()
}

func copyLayer(w io.Writer, b blob) error {
	rc, err := b.layer.Compressed()
	if err != nil {
		return fmt.Errorf("reading layer %s: %w", b.digest, err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), rc)
	if err != nil {
		return fmt.Errorf("copying layer %s: %w", b.digest, err)
	}
	if n != b.size || hex.EncodeToString(h.Sum(nil)) != b.digest.Hex {
		return fmt.Errorf("copying layer %s: its content does not match its digest and size", b.digest)
	}
	return nil
}

// span is where a regular file's content sits in the .cnb tar.
type span struct{ off, size int64 }

// cnbFile is an OCI layout inside an uncompressed tar, read in place.
type cnbFile struct {
	name    string
	entries map[string]span
	// openAt gives access to the tar's bytes, for one blob read.
	openAt func() (io.ReaderAt, io.Closer, error)
	size   int64
}

// OpenFile opens the .cnb file at path: an uncompressed tar holding an OCI
// image layout (or, as some old tools wrote, a docker-archive). Blobs are
// read from the file in place when needed and checked against their
// digests; the file must stay in place while the image is used. A layout
// holding several images gives the one for linux and this machine's
// architecture.
func OpenFile(path string) (v1.Image, error) {
	c, err := indexFile(path)
	if err != nil {
		return nil, err
	}
	return c.open()
}

// IsCNBFile reports whether path is a tar whose top level holds an OCI
// layout's index.json or a docker-archive's manifest.json.
func IsCNBFile(path string) bool {
	c, err := indexFile(path)
	if err != nil {
		return false
	}
	_, layout := c.entries["index.json"]
	_, archive := c.entries["manifest.json"]
	return layout || archive
}

func indexFile(path string) (*cnbFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	open := func() (io.ReaderAt, io.Closer, error) {
		f, err := os.Open(path)
		return f, f, err
	}
	return indexTar(path, f, fi.Size(), open)
}

// indexTar lists the regular files of the tar in ra (size bytes long).
func indexTar(name string, ra io.ReaderAt, size int64, open func() (io.ReaderAt, io.Closer, error)) (*cnbFile, error) {
	c := &cnbFile{name: name, entries: map[string]span{}, openAt: open, size: size}
	sr := io.NewSectionReader(ra, 0, size)
	tr := tar.NewReader(sr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, inputErrorf("reading %s: not a tar file: %w", name, err)
		}
		if len(c.entries) >= maxCNBEntries {
			return nil, inputErrorf("reading %s: more than %d entries", name, maxCNBEntries)
		}
		if h.Typeflag != tar.TypeReg || h.Size < 0 {
			continue
		}
		// tar.Reader reads nothing ahead: the offset is the start of this
		// entry's content.
		off, err := sr.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		if off+h.Size > size {
			return nil, inputErrorf("reading %s: entry %s runs past the end of the file", name, h.Name)
		}
		c.entries[cleanTarName(h.Name)] = span{off: off, size: h.Size}
	}
	return c, nil
}

// open returns the image the tar holds.
func (c *cnbFile) open() (v1.Image, error) {
	if _, ok := c.entries["index.json"]; ok {
		img, err := c.image()
		if err != nil {
			return nil, inputErrorf("reading %s: %w", c.name, err)
		}
		return img, nil
	}
	if _, ok := c.entries["manifest.json"]; ok {
		img, err := tarball.Image(func() (io.ReadCloser, error) {
			ra, cl, err := c.openAt()
			if err != nil {
				return nil, err
			}
			return readCloser{io.NewSectionReader(ra, 0, c.size), cl}, nil
		}, nil)
		if err != nil {
			return nil, inputErrorf("reading %s as a docker-archive: %w", c.name, err)
		}
		return img, nil
	}
	return nil, inputErrorf("reading %s: not a buildpackage (.cnb) file: the tar holds neither an OCI layout (index.json) nor a docker-archive (manifest.json)", c.name)
}

type readCloser struct {
	io.Reader
	io.Closer
}

// openEntry returns a reader of the entry name, checking its content against
// want (when want is set) once it is read to the end.
func (c *cnbFile) openEntry(name string, want *v1.Hash) (io.ReadCloser, int64, error) {
	s, ok := c.entries[name]
	if !ok {
		return nil, 0, fmt.Errorf("%s is missing", name)
	}
	ra, closer, err := c.openAt()
	if err != nil {
		return nil, 0, err
	}
	r := &checkedReader{r: io.NewSectionReader(ra, s.off, s.size), closer: closer, name: name}
	if want != nil {
		r.want, r.h = *want, sha256.New()
	}
	return r, s.size, nil
}

func (c *cnbFile) readSmall(name string, want *v1.Hash) ([]byte, error) {
	rc, size, err := c.openEntry(name, want)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if size > maxJSONBlob {
		return nil, fmt.Errorf("%s is %d bytes: too large", name, size)
	}
	return io.ReadAll(rc)
}

func blobName(h v1.Hash) (string, error) {
	if h.Algorithm != "sha256" {
		return "", fmt.Errorf("blob %s: only sha256 digests are supported", h)
	}
	return "blobs/sha256/" + h.Hex, nil
}

func (c *cnbFile) blob(h v1.Hash) ([]byte, error) {
	n, err := blobName(h)
	if err != nil {
		return nil, err
	}
	return c.readSmall(n, &h)
}

// image picks the image in the layout: the only one, else the one for
// linux on this machine's architecture.
func (c *cnbFile) image() (v1.Image, error) {
	data, err := c.readSmall("index.json", nil)
	if err != nil {
		return nil, err
	}
	return c.pick(data, "index.json", 0)
}

func (c *cnbFile) pick(indexData []byte, what string, depth int) (v1.Image, error) {
	if depth > maxIndexDepth {
		return nil, fmt.Errorf("%s: image indexes nest too deep", what)
	}
	im, err := v1.ParseIndexManifest(bytes.NewReader(indexData))
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", what, err)
	}
	var images, indexes []v1.Descriptor
	for _, d := range im.Manifests {
		switch {
		case d.MediaType.IsImage():
			images = append(images, d)
		case d.MediaType.IsIndex():
			indexes = append(indexes, d)
		}
	}
	if len(images) == 0 && len(indexes) == 1 {
		data, err := c.blob(indexes[0].Digest)
		if err != nil {
			return nil, err
		}
		return c.pick(data, "index "+indexes[0].Digest.String(), depth+1)
	}
	var chosen *v1.Descriptor
	switch {
	case len(images) == 1:
		chosen = &images[0]
	case len(images) > 1:
		want := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
		for i, d := range images {
			if d.Platform != nil && d.Platform.OS == want.OS && d.Platform.Architecture == want.Architecture {
				chosen = &images[i]
				break
			}
		}
		if chosen == nil {
			return nil, fmt.Errorf("%s lists %d images and none for linux/%s", what, len(images), runtime.GOARCH)
		}
	default:
		return nil, fmt.Errorf("%s lists no image", what)
	}
	raw, err := c.blob(chosen.Digest)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parsing manifest %s: %w", chosen.Digest, err)
	}
	mt := chosen.MediaType
	if m.MediaType != "" {
		mt = m.MediaType
	}
	img, err := partial.CompressedToImage(&cnbImage{file: c, manifest: m, raw: raw, mediaType: mt})
	if err != nil {
		return nil, err
	}
	return img, nil
}

// cnbImage is the partial.CompressedImageCore of an image in a .cnb file.
type cnbImage struct {
	file      *cnbFile
	manifest  *v1.Manifest
	raw       []byte
	mediaType types.MediaType
}

var _ partial.CompressedImageCore = (*cnbImage)(nil)

func (i *cnbImage) RawManifest() ([]byte, error)        { return i.raw, nil }
func (i *cnbImage) MediaType() (types.MediaType, error) { return i.mediaType, nil }

func (i *cnbImage) RawConfigFile() ([]byte, error) {
	return i.file.blob(i.manifest.Config.Digest)
}

func (i *cnbImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == i.manifest.Config.Digest {
		return partial.ConfigLayer(i)
	}
	for _, d := range i.manifest.Layers {
		if d.Digest == h {
			name, err := blobName(h)
			if err != nil {
				return nil, err
			}
			if _, ok := i.file.entries[name]; !ok {
				return nil, fmt.Errorf("layer %s: %s is missing", h, name)
			}
			return &cnbLayer{file: i.file, desc: d, name: name}, nil
		}
	}
	return nil, fmt.Errorf("no layer %s in the manifest", h)
}

// cnbLayer is one layer blob of a .cnb file.
type cnbLayer struct {
	file *cnbFile
	desc v1.Descriptor
	name string
}

func (l *cnbLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *cnbLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *cnbLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
func (l *cnbLayer) Compressed() (io.ReadCloser, error) {
	rc, _, err := l.file.openEntry(l.name, &l.desc.Digest)
	return rc, err
}

// checkedReader reads one entry and, at its end, compares its sha256 with
// the expected digest.
type checkedReader struct {
	r      io.Reader
	closer io.Closer
	name   string
	want   v1.Hash
	h      hash.Hash
}

func (c *checkedReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.h != nil {
		c.h.Write(p[:n])
		if errors.Is(err, io.EOF) && hex.EncodeToString(c.h.Sum(nil)) != c.want.Hex {
			return n, fmt.Errorf("%s: content does not match digest %s", c.name, c.want)
		}
	}
	return n, err
}

func (c *checkedReader) Close() error { return c.closer.Close() }
