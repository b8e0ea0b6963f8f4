package progress

import (
	"io"
	"slices"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Meter shows pulls: it counts the bytes read from the layers of the
// images it wraps (Image: those read from a registry, whose layers are
// fetched when read), and while a reader of them runs under Track, draws
// one Line for it. A nil *Meter wraps nothing.
type Meter struct {
	w      io.Writer
	mu     sync.Mutex
	active *pull
}

// pull is one tracked read of an image's layers.
type pull struct {
	line        *Line
	layers      map[v1.Hash]bool // the digests it counts
	done, total int64
}

// NewMeter returns a Meter drawing on w, or nil when w is not a terminal
// (nothing is wrapped then, so nothing changes when output is piped).
func NewMeter(w io.Writer) *Meter {
	if w == nil || !IsTerminal(w) {
		return nil
	}
	return &Meter{w: w}
}

// Image returns img (read from ref) with layers whose reads m counts.
func (m *Meter) Image(img v1.Image, ref string) v1.Image {
	if m == nil || img == nil {
		return img
	}
	return &image{Image: img, m: m, ref: ref}
}

// Track shows the reading of img's counted layers on one line ("Pulling
// REF: done / total"), until the returned func is called: from the first
// byte read, once the layers to read (those exists does not report as
// already at their destination; nil: all) reach MinBytes. It does nothing
// for an image without counted layers, or while another pull is shown.
func Track(img v1.Image, exists func(v1.Hash) bool) (end func()) {
	noop := func() {}
	ls, err := img.Layers()
	if err != nil {
		return noop
	}
	var m *Meter
	p := &pull{layers: map[v1.Hash]bool{}}
	var refs []string
	for _, l := range ls {
		ml, ok := unwrapMountable(l).(*layer)
		if !ok || (m != nil && ml.m != m) {
			continue
		}
		d, err := ml.Digest()
		if err != nil || p.layers[d] || (exists != nil && exists(d)) {
			continue
		}
		size, err := ml.Size()
		if err != nil {
			continue
		}
		m, p.layers[d], p.total = ml.m, true, p.total+size
		if !slices.Contains(refs, ml.ref) {
			refs = append(refs, ml.ref)
		}
	}
	if m == nil {
		return noop
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.active != nil {
		return noop
	}
	p.line = New(m.w, "Pulling "+strings.Join(refs, ", "))
	m.active = p
	return func() {
		m.mu.Lock()
		if m.active == p {
			m.active = nil
		}
		m.mu.Unlock()
		p.line.End()
	}
}

// add counts n bytes read of the layer d.
func (m *Meter) add(d v1.Hash, n int) {
	m.mu.Lock()
	p := m.active
	if p == nil || !p.layers[d] {
		m.mu.Unlock()
		return
	}
	p.done = min(p.done+int64(n), p.total) // a layer read twice counts once
	done, total := p.done, p.total
	m.mu.Unlock()
	p.line.Update(done, total)
}

func unwrapMountable(l v1.Layer) v1.Layer {
	if ml, ok := l.(*remote.MountableLayer); ok {
		return ml.Layer
	}
	return l
}

// image wraps an image's layers in counted ones.
type image struct {
	v1.Image
	m   *Meter
	ref string
}

func (i *image) Layers() ([]v1.Layer, error) {
	ls, err := i.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for j, l := range ls {
		out[j] = i.wrap(l)
	}
	return out, nil
}

func (i *image) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := i.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return i.wrap(l), nil
}

func (i *image) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	l, err := i.Image.LayerByDiffID(h)
	if err != nil {
		return nil, err
	}
	return i.wrap(l), nil
}

// Descriptor keeps the descriptor the image was found under (its
// platform, in an index).
func (i *image) Descriptor() (*v1.Descriptor, error) { return partial.Descriptor(i.Image) }

// wrap counts l's reads; a layer that can be mounted from its registry
// stays mountable, so pushing it elsewhere costs no download.
func (i *image) wrap(l v1.Layer) v1.Layer {
	if ml, ok := l.(*remote.MountableLayer); ok {
		return &remote.MountableLayer{Layer: newLayer(ml.Layer, i.m, i.ref), Reference: ml.Reference}
	}
	return newLayer(l, i.m, i.ref)
}

// layer counts the compressed bytes read of a layer; Uncompressed
// decompresses a counted Compressed.
type layer struct {
	v1.Layer
	m   *Meter
	ref string
	ext v1.Layer
}

func newLayer(l v1.Layer, m *Meter, ref string) *layer {
	w := &layer{Layer: l, m: m, ref: ref}
	w.ext, _ = partial.CompressedToLayer(compressedOnly{w})
	return w
}

func (l *layer) Compressed() (io.ReadCloser, error) {
	d, err := l.Layer.Digest()
	if err != nil {
		return nil, err
	}
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	return &countingReader{rc: rc, m: l.m, d: d}, nil
}

func (l *layer) Uncompressed() (io.ReadCloser, error) { return l.ext.Uncompressed() }

// Descriptor and Exists pass through what go-containerregistry asks of
// the layer underneath.
func (l *layer) Descriptor() (*v1.Descriptor, error) { return partial.Descriptor(l.Layer) }
func (l *layer) Exists() (bool, error)               { return partial.Exists(l.Layer) }

// compressedOnly shows partial.CompressedToLayer only the compressed
// side of a layer (and its DiffID, which it then uses as it is).
type compressedOnly struct{ l *layer }

func (c compressedOnly) Digest() (v1.Hash, error)            { return c.l.Digest() }
func (c compressedOnly) DiffID() (v1.Hash, error)            { return c.l.DiffID() }
func (c compressedOnly) Size() (int64, error)                { return c.l.Size() }
func (c compressedOnly) MediaType() (types.MediaType, error) { return c.l.MediaType() }
func (c compressedOnly) Compressed() (io.ReadCloser, error)  { return c.l.Compressed() }

type countingReader struct {
	rc io.ReadCloser
	m  *Meter
	d  v1.Hash
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if n > 0 {
		r.m.add(r.d, n)
	}
	return n, err
}

func (r *countingReader) Close() error { return r.rc.Close() }

// Index returns idx (read from ref) whose images' layers m counts.
func (m *Meter) Index(idx v1.ImageIndex, ref string) v1.ImageIndex {
	if m == nil || idx == nil {
		return idx
	}
	return &index{inner: idx, m: m, ref: ref}
}

// index wraps the images of an index in counted ones.
type index struct {
	inner v1.ImageIndex
	m     *Meter
	ref   string
}

func (i *index) MediaType() (types.MediaType, error)       { return i.inner.MediaType() }
func (i *index) Digest() (v1.Hash, error)                  { return i.inner.Digest() }
func (i *index) Size() (int64, error)                      { return i.inner.Size() }
func (i *index) IndexManifest() (*v1.IndexManifest, error) { return i.inner.IndexManifest() }
func (i *index) RawManifest() ([]byte, error)              { return i.inner.RawManifest() }
func (i *index) Descriptor() (*v1.Descriptor, error)       { return partial.Descriptor(i.inner) }

func (i *index) Image(h v1.Hash) (v1.Image, error) {
	img, err := i.inner.Image(h)
	if err != nil {
		return nil, err
	}
	return i.m.Image(img, i.ref), nil
}

func (i *index) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	idx, err := i.inner.ImageIndex(h)
	if err != nil {
		return nil, err
	}
	return i.m.Index(idx, i.ref), nil
}
