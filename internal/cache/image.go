package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// ImageMetadataLabel holds a cache image's index, as the CNB lifecycle
// names it.
const ImageMetadataLabel = "io.buildpacks.lifecycle.cache.metadata"

// imageCache keeps the cache as a registry image: one layer per cached
// layer and the index in a label. Layers that did not change are mounted
// from the previous cache image, never downloaded or uploaded again.
type imageCache struct {
	iio     *imageio.IO
	ref     string
	prev    v1.Image // nil when the registry has none (or it was cleared)
	loaded  bool
	md      Metadata
	loadErr error
}

// WithImage keeps the cache in the registry image ref instead of the
// cache dir (which then only holds the lock).
func WithImage(iio *imageio.IO, ref string) Option {
	return func(c *Cache) { c.image = &imageCache{iio: iio, ref: ref} }
}

func (ic *imageCache) load(ctx context.Context) {
	if ic.loaded {
		return
	}
	ic.loaded = true
	img, err := ic.iio.Remote(ctx, ic.ref)
	if imageio.IsNotFound(err) {
		// No cache image yet is the normal first build.
		return
	}
	if err != nil {
		// Rejected credentials, an unreachable or failing registry: the
		// build goes on without the cache, but says why (Restore warns).
		ic.loadErr = fmt.Errorf("cannot read cache image %s: %w", ic.ref, err)
		return
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		ic.loadErr = fmt.Errorf("reading cache image %s: %w", ic.ref, err)
		return
	}
	if _, err := labels.Decode(cfg, ImageMetadataLabel, &ic.md); err != nil {
		ic.loadErr = fmt.Errorf("cache image %s: %w", ic.ref, err)
		ic.md = Metadata{}
		return
	}
	ic.prev = img
}

func (ic *imageCache) metadata(ctx context.Context) (Metadata, error) {
	ic.load(ctx)
	return ic.md, ic.loadErr
}

func (ic *imageCache) clear() {
	ic.loaded, ic.prev, ic.md, ic.loadErr = true, nil, Metadata{}, nil
}

func (ic *imageCache) open(diffID string) (io.ReadCloser, error) {
	if ic.prev == nil {
		return nil, errors.New("no cache image")
	}
	h, err := v1.NewHash(diffID)
	if err != nil {
		return nil, err
	}
	l, err := ic.prev.LayerByDiffID(h)
	if err != nil {
		return nil, fmt.Errorf("cache image %s lacks layer %s: %w", ic.ref, diffID, err)
	}
	return l.Uncompressed()
}

// save writes a new cache image and pushes it.
func (ic *imageCache) save(ctx context.Context, layers []cachedLayer, bps []labels.BuildpackEntry, o SaveOptions) error {
	ic.load(ctx)
	tmp, err := os.MkdirTemp("", "kiln-cache-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	var adds []mutate.Addendum
	for _, l := range layers {
		var layer v1.Layer
		if l.unchanged != "" && ic.prev != nil {
			if h, err := v1.NewHash(l.unchanged); err == nil {
				if pl, err := ic.prev.LayerByDiffID(h); err == nil {
					layer = pl
				}
			}
		}
		if layer == nil {
			layer = o.Exported[l.id+":"+l.name]
		}
		if layer == nil {
			diffID, err := writeTar(ctx, l.id, l.dir, l.name, tmp, o)
			if err != nil {
				return fmt.Errorf("saving cache layer %s:%s: %w", l.id, l.name, err)
			}
			h, _ := v1.NewHash(diffID)
			if layer, err = archive.LayerFromTar(filepath.Join(tmp, tarName(diffID)), h, archive.WithTempDir(tmp)); err != nil {
				return err
			}
		}
		d, err := layer.DiffID()
		if err != nil {
			return err
		}
		l.meta.SHA = d.String()
		find(bps, l.id).Layers[l.name] = l.meta
		adds = append(adds, mutate.Addendum{Layer: layer, History: v1.History{Created: v1.Time{Time: modTime(o)}}})
	}
	if img, err = mutate.Append(img, adds...); err != nil {
		return err
	}
	var md Metadata
	for _, bp := range bps {
		if len(bp.Layers) > 0 {
			md.Buildpacks = append(md.Buildpacks, bp)
		}
	}
	label, err := labels.Encode(md)
	if err != nil {
		return err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.Created = v1.Time{Time: modTime(o)}
	cfg.Config.Labels = map[string]string{ImageMetadataLabel: label}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return err
	}
	if err := ic.iio.Write(ctx, imageio.Location{Kind: imageio.Registry, Name: ic.ref}, img); err != nil {
		return fmt.Errorf("pushing cache image: %w", err)
	}
	return nil
}

func modTime(o SaveOptions) time.Time {
	if o.ModTime.IsZero() {
		return archive.DefaultModTime
	}
	return o.ModTime
}
