package imageio

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
)

// refNameAnnotation is the OCI annotation that names an image in a layout.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// ErrNotFound is returned when a store or layout has no image of that name.
var ErrNotFound = errors.New("image not found")

// LocalStore is kiln's local image store: one OCI layout whose index names
// each image with the ref.name annotation. Writers hold an exclusive lock.
type LocalStore struct {
	dir string
}

// DefaultStoreDir is the store under the user's data dir
// ($XDG_DATA_HOME/kiln/store, else ~/.local/share/kiln/store), or
// $KILN_STORE when set.
func DefaultStoreDir() (string, error) {
	if d := os.Getenv("KILN_STORE"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "kiln", "store"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the local store: %w", err)
	}
	return filepath.Join(home, ".local", "share", "kiln", "store"), nil
}

// OpenStore opens (creating if needed) the store at dir.
func OpenStore(dir string) (*LocalStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating local store %s: %w", dir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.json")); errors.Is(err, os.ErrNotExist) {
		if _, err := layout.Write(dir, empty.Index); err != nil {
			return nil, fmt.Errorf("initialising local store %s: %w", dir, err)
		}
	}
	return &LocalStore{dir: dir}, nil
}

// Dir is the store's directory.
func (s *LocalStore) Dir() string { return s.dir }

func (s *LocalStore) lock(exclusive bool) (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking local store %s: %w", s.dir, err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking local store %s: %w", s.dir, err)
	}
	return func() { f.Close() }, nil
}

// Image returns the image stored under name (normalised with NormalizeName).
func (s *LocalStore) Image(name string) (v1.Image, error) {
	n, err := NormalizeName(name)
	if err != nil {
		return nil, err
	}
	unlock, err := s.lock(false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return imageFromLayout(s.dir, n)
}

// Put stores img under name, replacing any image of that name. The index
// is updated only after every blob is written.
func (s *LocalStore) Put(ctx context.Context, name string, img v1.Image) error {
	return s.update(ctx, name, func(p layout.Path, n string) error {
		if err := p.WriteImage(img); err != nil {
			return fmt.Errorf("writing %s to local store %s: %w", n, s.dir, err)
		}
		return replaceInIndex(p, img, n)
	})
}

// hasBlob says whether the store holds the blob h (a write skips it).
func (s *LocalStore) hasBlob(h v1.Hash) bool { return hasBlobIn(s.dir)(h) }

// hasBlobIn says whether the OCI layout at dir holds a blob.
func hasBlobIn(dir string) func(v1.Hash) bool {
	return func(h v1.Hash) bool {
		fi, err := os.Stat(filepath.Join(dir, "blobs", h.Algorithm, h.Hex))
		return err == nil && fi.Mode().IsRegular()
	}
}

// update runs fn on the store's layout under the write lock, with name
// normalized.
func (s *LocalStore) update(ctx context.Context, name string, fn func(p layout.Path, n string) error) error {
	n, err := NormalizeName(name)
	if err != nil {
		return err
	}
	unlock, err := s.lock(true)
	if err != nil {
		return err
	}
	defer unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	return fn(layout.Path(s.dir), n)
}

// Remove deletes the name from the store's index. Blobs stay until Prune.
func (s *LocalStore) Remove(name string) error {
	n, err := NormalizeName(name)
	if err != nil {
		return err
	}
	unlock, err := s.lock(true)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := imageFromLayout(s.dir, n); err != nil {
		return err
	}
	return layout.Path(s.dir).RemoveDescriptors(match.Annotation(refNameAnnotation, n))
}

// Entry describes one image in the store.
type Entry struct {
	Name    string
	Digest  v1.Hash
	Created v1.Time
	// Size is the sum of the compressed layer sizes.
	Size int64
}

// List returns the store's images sorted by name.
func (s *LocalStore) List() ([]Entry, error) {
	unlock, err := s.lock(false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	ii, err := layout.ImageIndexFromPath(s.dir)
	if err != nil {
		return nil, fmt.Errorf("reading local store %s: %w", s.dir, err)
	}
	im, err := ii.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading local store %s: %w", s.dir, err)
	}
	var out []Entry
	for _, d := range im.Manifests {
		n := d.Annotations[refNameAnnotation]
		if n == "" {
			continue
		}
		e := Entry{Name: n, Digest: d.Digest}
		imgs, err := storedImages(ii, d)
		if err != nil {
			return nil, fmt.Errorf("reading %s from local store: %w", n, err)
		}
		for _, img := range imgs {
			if cf, err := img.ConfigFile(); err == nil && cf.Created.After(e.Created.Time) {
				e.Created = cf.Created
			}
			if m, err := img.Manifest(); err == nil {
				for _, l := range m.Layers {
					e.Size += l.Size
				}
			}
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// imageFromLayout returns the image named n in the layout at dir; a layout
// holding a single unnamed image answers for any name. An index named n
// answers with its image for the host's platform.
func imageFromLayout(dir, n string) (v1.Image, error) {
	idx, img, err := entryFromLayout(dir, n)
	if err != nil || idx == nil {
		return img, err
	}
	what := n
	if what == "" {
		what = dir
	}
	return ChildFor(idx, HostPlatform(), what)
}

func replaceInIndex(p layout.Path, img v1.Image, n string) error {
	opts := []layout.Option{}
	if n != "" {
		opts = append(opts, layout.WithAnnotations(map[string]string{refNameAnnotation: n}))
	}
	// ReplaceImage writes blobs again only when missing, then swaps the
	// descriptor in index.json.
	if err := p.ReplaceImage(img, match.Annotation(refNameAnnotation, n), opts...); err != nil {
		return fmt.Errorf("updating index of %s: %w", string(p), err)
	}
	return nil
}

// storedImages is the image d names, or the images of the index it names.
func storedImages(ii v1.ImageIndex, d v1.Descriptor) ([]v1.Image, error) {
	if !d.MediaType.IsIndex() {
		img, err := ii.Image(d.Digest)
		return []v1.Image{img}, err
	}
	idx, err := ii.ImageIndex(d.Digest)
	if err != nil {
		return nil, err
	}
	pis, err := IndexImages(idx)
	imgs := make([]v1.Image, len(pis))
	for i, pi := range pis {
		imgs[i] = pi.Image
	}
	return imgs, err
}
