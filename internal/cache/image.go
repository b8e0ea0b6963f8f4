package cache

import (
	"context"
	"errors"
	"fmt"
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

// imageCache keeps the cache as a registry image: per cached layer, one
// layer and maybe deltas over it (delta.go), and the index in a label. It
// is written through the dir cache of the same app: the cache dir keeps
// this machine's copy of the layers as trees, and its committed index
// names the digest of the cache image they are (Metadata.Image).
//
// Restore reads the cache image's manifest and config, never a layer,
// before it decides: when the registry's digest is the one the local
// index names, the layers come from the local trees by rename, as in the
// dir cache; otherwise (another machine saved last, the local copy is
// gone or was never pushed) they are downloaded from the image. A layer
// whose local tree is missing or changed is downloaded alone.
//
// Save tars what changed since restore while the trees are still in the
// build, moves the trees into the dir cache (journal, rename), then
// pushes a new image in which every layer left unchanged is the previous
// image's blob (reused by digest: no upload), and only then records the
// new digest in the local index. A push that fails, or a kill before the
// digest is recorded, leaves a local generation that claims no image: the
// next build here restores from the registry, which stays the one
// authority every machine restores from.
type imageCache struct {
	iio     *imageio.IO
	ref     string
	arch    string   // the config's architecture (default amd64)
	variant string   // and variant
	prev    v1.Image // nil when the registry has none (or it was cleared)
	digest  string   // prev's manifest digest
	loaded  bool
	md      Metadata
	loadErr error
}

// WithImage keeps the cache in the registry image ref, written through the
// cache dir (see imageCache).
func WithImage(iio *imageio.IO, ref string) Option {
	return func(c *Cache) { c.image = &imageCache{iio: iio, ref: ref} }
}

// WithImageFor is WithImage for the cache of a build for platform arch
// (and variant): the cache image's config names that platform.
func WithImageFor(iio *imageio.IO, ref, arch, variant string) Option {
	return func(c *Cache) { c.image = &imageCache{iio: iio, ref: ref, arch: arch, variant: variant} }
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
	// The digest of the manifest already fetched: no request.
	d, err := img.Digest()
	if err != nil {
		ic.loadErr = fmt.Errorf("reading cache image %s: %w", ic.ref, err)
		ic.md = Metadata{}
		return
	}
	// Only the index travels in the label: trees and digests are a
	// machine's own.
	ic.md.Trees, ic.md.Image = nil, ""
	ic.prev, ic.digest = img, d.String()
}

// index is the index Restore works from, and whether the contents come
// from the local trees (c.local): the dir cache's; with an image, the
// local one when it names the registry's digest, else the image's.
func (c *Cache) index(ctx context.Context) (Metadata, error) {
	if c.image == nil {
		c.local = true
		return c.dirMetadata()
	}
	c.local = false
	md, err := c.image.metadata(ctx)
	if err != nil || c.image.digest == "" {
		return md, err
	}
	if local, lerr := c.dirMetadata(); lerr == nil && local.Image == c.image.digest {
		c.local = true
		return local, nil
	}
	return md, nil
}

func (ic *imageCache) metadata(ctx context.Context) (Metadata, error) {
	ic.load(ctx)
	return ic.md, ic.loadErr
}

func (ic *imageCache) clear() {
	ic.loaded, ic.prev, ic.digest, ic.md, ic.loadErr = true, nil, "", Metadata{}, nil
}

// layers are the previous cache image's layers of the diffIDs chain.
// Their blobs are neither read nor fetched until their contents are.
func (ic *imageCache) layers(chain []string) ([]v1.Layer, error) {
	if ic.prev == nil {
		return nil, errors.New("no cache image")
	}
	out := make([]v1.Layer, 0, len(chain))
	for _, diffID := range chain {
		h, err := v1.NewHash(diffID)
		if err != nil {
			return nil, err
		}
		l, err := ic.prev.LayerByDiffID(h)
		if err != nil {
			return nil, fmt.Errorf("cache image %s lacks layer %s: %w", ic.ref, diffID, err)
		}
		out = append(out, l)
	}
	return out, nil
}

// chains are the new cache image's layers of each cached layer, in order:
// see chain. New layers are written, compressed, into tmp.
func (ic *imageCache) chains(ctx context.Context, layers []cachedLayer, tmp string, o SaveOptions) ([][]v1.Layer, error) {
	ic.load(ctx)
	out := make([][]v1.Layer, len(layers))
	for i := range layers {
		l := &layers[i]
		ch, err := ic.chain(ctx, l, tmp, o)
		if err != nil {
			return nil, fmt.Errorf("saving cache layer %s:%s: %w", l.id, l.name, err)
		}
		out[i] = ch
	}
	return out, nil
}

// chain is l's layers in the new cache image: the previous image's when l
// is unchanged since restore (their blobs are in the registry: neither
// read nor uploaded), the app image's for a launch layer, the previous
// image's and one more with what changed when that is small (delta.go),
// else its tree tarred and compressed in one pass. A tree it lists keeps
// its listing and fingerprint in l, for the move into the dir cache.
func (ic *imageCache) chain(ctx context.Context, l *cachedLayer, tmp string, o SaveOptions) ([]v1.Layer, error) {
	if len(l.unchanged) > 0 {
		if prev, err := ic.layers(l.unchanged); err == nil {
			return prev, nil
		}
	}
	if el := o.Exported[l.id+":"+l.name]; el != nil {
		return []v1.Layer{el}, nil
	}
	if l.base != nil && l.listing != nil && !l.meta.Launch {
		if ch, err := ic.withDelta(ctx, *l, tmp, o); err != nil || ch != nil {
			return ch, err
		}
	}
	if l.listing == nil {
		var err error
		if l.listing, l.fp, err = listTree(ctx, l.dir); err != nil {
			return nil, err
		}
	}
	full, err := newLayer(ctx, *l, l.listing, l.listing.All(), tmp, o)
	if err != nil {
		return nil, err
	}
	return []v1.Layer{full}, nil
}

// save writes the new cache image, one chain of layers per cached layer
// and the index md (its layers' SHAs and deltas set here) in its label,
// and pushes it, unless the registry has that very image already. It
// returns the image's digest.
func (ic *imageCache) save(ctx context.Context, layers []cachedLayer, chains [][]v1.Layer, md *Metadata, o SaveOptions) (string, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	var adds []mutate.Addendum
	md.Deltas = map[string][]string{}
	for i, l := range layers {
		var diffIDs []string
		for _, layer := range chains[i] {
			d, err := layer.DiffID()
			if err != nil {
				return "", err
			}
			diffIDs = append(diffIDs, d.String())
			adds = append(adds, mutate.Addendum{Layer: layer, History: v1.History{Created: v1.Time{Time: modTime(o)}}})
		}
		l.meta.SHA = diffIDs[0]
		find(md.Buildpacks, l.id).Layers[l.name] = l.meta
		if len(diffIDs) > 1 {
			md.Deltas[l.id+":"+l.name] = diffIDs[1:]
		}
	}
	img, err := mutate.Append(img, adds...)
	if err != nil {
		return "", err
	}
	label, err := labels.Encode(Metadata{Buildpacks: md.Buildpacks, Deltas: md.Deltas})
	if err != nil {
		return "", err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	if ic.arch != "" {
		cfg.Architecture, cfg.Variant = ic.arch, ic.variant
	}
	cfg.Created = v1.Time{Time: modTime(o)}
	cfg.Config.Labels = map[string]string{ImageMetadataLabel: label}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return "", err
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	if ic.prev == nil || d.String() != ic.digest {
		if err := ic.iio.Write(ctx, imageio.Location{Kind: imageio.Registry, Name: ic.ref}, img); err != nil {
			return "", fmt.Errorf("pushing cache image: %w", err)
		}
	}
	// The new image's files go with the save's temp dir: a later use
	// reads the registry's.
	ic.loaded, ic.prev, ic.digest = false, nil, ""
	return d.String(), nil
}

func modTime(o SaveOptions) time.Time {
	if o.ModTime.IsZero() {
		return archive.DefaultModTime
	}
	return o.ModTime
}
