package imageio

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/internal/progress"
)

// HostPlatform is the platform kiln runs on (linux/GOARCH, with arm64's
// variant v8 left out as registries commonly do).
func HostPlatform() v1.Platform {
	return v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

// ParsePlatforms parses a comma-separated list of os/arch[/variant], as
// pack's and BuildKit's --platform take it. Duplicates are errors.
func ParsePlatforms(s string) ([]v1.Platform, error) {
	var out []v1.Platform
	seen := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := v1.ParsePlatform(f)
		if err != nil || p.OS == "" || p.Architecture == "" || strings.Count(f, "/") > 2 {
			return nil, fmt.Errorf("platform %q: want os/arch[/variant], such as linux/arm64", f)
		}
		if p.OS != "linux" {
			return nil, fmt.Errorf("platform %q: kiln builds linux images only", f)
		}
		k := PlatformString(*p)
		if seen[k] {
			return nil, fmt.Errorf("platform %q is given twice", f)
		}
		seen[k] = true
		out = append(out, *p)
	}
	if len(out) == 0 {
		return nil, errors.New("no platform given: want os/arch[/variant], such as linux/arm64")
	}
	return out, nil
}

// PlatformString is os/arch[/variant].
func PlatformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// PlatformMatches says whether an image of platform have serves want: same
// os and architecture, and the same variant when both name one (arm64's
// v8 is its only variant, so "" and "v8" match there).
func PlatformMatches(want, have v1.Platform) bool {
	if want.OS != have.OS || want.Architecture != have.Architecture {
		return false
	}
	if want.Variant == "" || have.Variant == "" {
		return true
	}
	return want.Variant == have.Variant
}

// PlatformOf reads the platform an image's config declares.
func PlatformOf(img v1.Image) (v1.Platform, error) {
	cfg, err := img.ConfigFile()
	if err != nil {
		return v1.Platform{}, fmt.Errorf("reading image config: %w", err)
	}
	return v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}, nil
}

// NoPlatformError says an image index (or single image) has no image for
// the platform asked for; Have lists the platforms it has.
type NoPlatformError struct {
	What string
	Want v1.Platform
	Have []string
}

func (e *NoPlatformError) Error() string {
	return fmt.Sprintf("%s has no image for platform %s (it has: %s)", e.What, PlatformString(e.Want), strings.Join(e.Have, ", "))
}

// ChildFor returns the image of idx for platform p; what names idx in
// the error when there is none.
func ChildFor(idx v1.ImageIndex, p v1.Platform, what string) (v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading image index %s: %w", what, err)
	}
	var have []string
	for _, d := range im.Manifests {
		if !d.MediaType.IsImage() || d.Platform == nil {
			continue
		}
		if PlatformMatches(p, *d.Platform) {
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, err
			}
			return checkBounds(img, what+" ("+PlatformString(*d.Platform)+")")
		}
		have = append(have, PlatformString(*d.Platform))
	}
	return nil, &NoPlatformError{What: what, Want: p, Have: have}
}

// PlatformImage is one image of an index with the platform it is for.
type PlatformImage struct {
	Platform v1.Platform
	Image    v1.Image
}

// NewIndex makes an OCI image index of imgs, each entry carrying its
// platform; entries are in the order given, so the same images give the
// same index digest.
func NewIndex(imgs []PlatformImage) (v1.ImageIndex, error) {
	adds := make([]mutate.IndexAddendum, 0, len(imgs))
	for _, pi := range imgs {
		mt, err := pi.Image.MediaType()
		if err != nil {
			return nil, fmt.Errorf("reading the %s image's media type: %w", PlatformString(pi.Platform), err)
		}
		p := pi.Platform
		adds = append(adds, mutate.IndexAddendum{Add: pi.Image, Descriptor: v1.Descriptor{MediaType: mt, Platform: &p}})
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	return mutate.AppendManifests(idx, adds...), nil
}

// IndexImages lists the images of idx with their platforms, in index
// order; entries that are not images (attestations, nested indexes) are
// left out.
func IndexImages(idx v1.ImageIndex) ([]PlatformImage, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading image index: %w", err)
	}
	var out []PlatformImage
	for _, d := range im.Manifests {
		if !d.MediaType.IsImage() || d.Platform == nil {
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("reading the %s image of the index: %w", PlatformString(*d.Platform), err)
		}
		out = append(out, PlatformImage{Platform: *d.Platform, Image: img})
	}
	return out, nil
}

// OpenIndex returns the image index at loc, or (nil, img, nil) when loc
// holds a single image. A Store location is looked up in the local store
// first and then, when remoteFallback is set, in its registry.
func (o *IO) OpenIndex(ctx context.Context, loc Location, remoteFallback bool) (v1.ImageIndex, v1.Image, error) {
	switch loc.Kind {
	case Store:
		if o.store != nil {
			idx, img, err := o.store.entry(loc.Name)
			if err == nil {
				return idx, img, nil
			}
			if !errors.Is(err, ErrNotFound) || !remoteFallback {
				return nil, nil, fmt.Errorf("opening %s from the local store: %w", loc.Name, err)
			}
		}
		if !remoteFallback {
			return nil, nil, fmt.Errorf("%s: %w", loc.Name, ErrNotFound)
		}
		idx, img, err := o.remoteIndex(ctx, loc.Name)
		if err != nil {
			// As Open says it: both places.
			return nil, nil, fmt.Errorf("%s is not in the local store (kiln images lists it), and from its registry: %w", loc.Name, err)
		}
		return idx, img, nil
	case Registry:
		return o.remoteIndex(ctx, loc.Name)
	case Layout:
		if _, err := os.Stat(filepath.Join(loc.Path, "index.json")); errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("opening %s: no OCI layout: %w", loc, ErrNotFound)
		}
		return entryFromLayout(loc.Path, loc.Name)
	}
	img, err := o.Open(ctx, loc, remoteFallback)
	return nil, img, err
}

func (o *IO) remoteIndex(ctx context.Context, ref string) (v1.ImageIndex, v1.Image, error) {
	r, err := o.ParseReference(ref)
	if err != nil {
		return nil, nil, fmt.Errorf("image reference %q: %w", ref, err)
	}
	desc, err := remote.Get(r, o.RemoteOptions(ctx)...)
	if err != nil {
		return nil, nil, fmt.Errorf("pulling %s from registry %s: %w", ref, r.Context().RegistryStr(), o.registryError(err, r))
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		return o.meter.Index(idx, ref), nil, err
	}
	img, err := desc.Image()
	if err != nil {
		return nil, nil, err
	}
	if img, err = checkBounds(img, ref); err != nil {
		return nil, nil, err
	}
	return nil, o.meter.Image(img, ref), nil
}

// OpenPlatform returns the image for platform p at loc: the matching
// image of an index, or a single image whose config declares p.
func (o *IO) OpenPlatform(ctx context.Context, loc Location, remoteFallback bool, p v1.Platform) (v1.Image, error) {
	idx, img, err := o.OpenIndex(ctx, loc, remoteFallback)
	if err != nil {
		return nil, err
	}
	return SelectPlatform(idx, img, p, loc.String())
}

// SelectPlatform is OpenPlatform's choice among what OpenIndex returned:
// the image of idx for p or, without an index, img when its config
// declares p. what names the place in errors.
func SelectPlatform(idx v1.ImageIndex, img v1.Image, p v1.Platform, what string) (v1.Image, error) {
	if idx != nil {
		return ChildFor(idx, p, what)
	}
	have, err := PlatformOf(img)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", what, err)
	}
	if !PlatformMatches(p, have) {
		return nil, &NoPlatformError{What: what, Want: p, Have: []string{PlatformString(have)}}
	}
	return img, nil
}

// WriteIndex puts idx at loc: a registry, the local store or an OCI
// layout. A docker-archive holds one image: the caller picks it.
func (o *IO) WriteIndex(ctx context.Context, loc Location, idx v1.ImageIndex) error {
	switch loc.Kind {
	case Store:
		if o.store == nil {
			return errors.New("no local store configured")
		}
		return o.store.PutIndex(ctx, loc.Name, idx)
	case Registry:
		r, err := o.ParseReference(loc.Name)
		if err != nil {
			return fmt.Errorf("image reference %q: %w", loc.Name, err)
		}
		if err := remote.WriteIndex(r, idx, o.RemoteOptions(ctx)...); err != nil {
			return fmt.Errorf("pushing %s to registry %s: %w", loc.Name, r.Context().RegistryStr(), o.registryError(err, r))
		}
		return nil
	case Layout:
		return writeLayoutIndex(loc, idx)
	case Archive:
		return fmt.Errorf("writing %s: a docker-archive holds one image, not an index of several platforms: choose one with --platform", loc)
	}
	return fmt.Errorf("writing %s: unknown kind %v", loc, loc.Kind)
}

// PutIndex stores idx under name, replacing any image or index of that
// name. The store's index.json changes only after every blob is written.
func (s *LocalStore) PutIndex(ctx context.Context, name string, idx v1.ImageIndex) error {
	return s.update(ctx, name, func(p layout.Path, n string) error { return replaceIndexIn(p, idx, n) })
}

func replaceIndexIn(p layout.Path, idx v1.ImageIndex, n string) error {
	var opts []layout.Option
	if n != "" {
		opts = append(opts, layout.WithAnnotations(map[string]string{refNameAnnotation: n}))
	}
	if err := p.ReplaceIndex(idx, match.Annotation(refNameAnnotation, n), opts...); err != nil {
		return fmt.Errorf("writing index %s to %s: %w", n, string(p), err)
	}
	return nil
}

// writeLayoutIndex writes idx into the layout at loc.Path, creating it
// when missing.
func writeLayoutIndex(loc Location, idx v1.ImageIndex) error {
	p, err := openLayout(loc)
	if err != nil {
		return err
	}
	if err := replaceIndexIn(p, idx, loc.Name); err != nil {
		return fmt.Errorf("writing %s: %w", loc, err)
	}
	return nil
}

// openLayout is the OCI layout at loc.Path, made empty when the path is
// missing or an empty directory.
func openLayout(loc Location) (layout.Path, error) {
	if _, err := os.Stat(filepath.Join(loc.Path, "index.json")); err == nil {
		return layout.Path(loc.Path), nil
	}
	if entries, err := os.ReadDir(loc.Path); err == nil && len(entries) > 0 {
		return "", fmt.Errorf("writing %s: %s exists and is not an OCI layout", loc, loc.Path)
	}
	p, err := layout.Write(loc.Path, empty.Index)
	if err != nil {
		return "", fmt.Errorf("writing %s: %w", loc, err)
	}
	return p, nil
}

// entry returns what the store holds under name: an index or an image.
func (s *LocalStore) entry(name string) (v1.ImageIndex, v1.Image, error) {
	n, err := NormalizeName(name)
	if err != nil {
		return nil, nil, err
	}
	unlock, err := s.lock(false)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	return entryFromLayout(s.dir, n)
}

// entryFromLayout returns the index or image named n in the layout at dir
// (a layout holding a single unnamed entry answers for any name).
func entryFromLayout(dir, n string) (v1.ImageIndex, v1.Image, error) {
	ii, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("reading OCI layout %s: %w", dir, err)
	}
	im, err := ii.IndexManifest()
	if err != nil {
		return nil, nil, fmt.Errorf("reading OCI layout %s: %w", dir, err)
	}
	var only []v1.Descriptor
	for _, d := range im.Manifests {
		if !d.MediaType.IsImage() && !d.MediaType.IsIndex() {
			continue
		}
		only = append(only, d)
	}
	var found *v1.Descriptor
	for i, d := range only {
		if n != "" && d.Annotations[refNameAnnotation] == n {
			found = &only[i]
			break
		}
	}
	if found == nil && len(only) == 1 && (n == "" || only[0].Annotations[refNameAnnotation] == "") {
		found = &only[0]
	}
	if found == nil {
		if n == "" && len(only) > 1 {
			return nil, nil, fmt.Errorf("OCI layout %s holds %d images: name one", dir, len(only))
		}
		return nil, nil, fmt.Errorf("%s in %s: %w", n, dir, ErrNotFound)
	}
	if found.MediaType.IsIndex() {
		idx, err := ii.ImageIndex(found.Digest)
		return idx, nil, err
	}
	img, err := ii.Image(found.Digest)
	return nil, img, err
}

// StageImage puts img's blobs where loc is, without naming it there, and
// returns the image read back from that place: in a registry the image
// is pushed by digest to loc's repository; in the local store or an OCI
// layout its blobs are written and the index is left alone. An index
// written to loc later finds its images there. (An image whose layers
// live in files a build removes stays readable this way.)
func (o *IO) StageImage(ctx context.Context, loc Location, img v1.Image) (v1.Image, error) {
	d, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("staging an image at %s: %w", loc, err)
	}
	switch loc.Kind {
	case Registry:
		r, err := o.ParseReference(loc.Name)
		if err != nil {
			return nil, fmt.Errorf("image reference %q: %w", loc.Name, err)
		}
		byDigest := Location{Kind: Registry, Name: r.Context().Digest(d.String()).String()}
		if err := o.Write(ctx, byDigest, img); err != nil {
			return nil, err
		}
		return o.Remote(ctx, byDigest.Name)
	case Store:
		if o.store == nil {
			return nil, errors.New("no local store configured")
		}
		unlock, err := o.store.lock(true)
		if err != nil {
			return nil, err
		}
		defer unlock()
		defer progress.Track(img, o.store.hasBlob)()
		return stageInLayout(layout.Path(o.store.dir), img, d)
	case Layout:
		p, err := openLayout(loc)
		if err != nil {
			return nil, err
		}
		return stageInLayout(p, img, d)
	}
	return nil, fmt.Errorf("staging an image at %s: a %s holds one image", loc, loc.Kind)
}

func stageInLayout(p layout.Path, img v1.Image, d v1.Hash) (v1.Image, error) {
	if err := p.WriteImage(img); err != nil {
		return nil, fmt.Errorf("writing image %s to %s: %w", d, string(p), err)
	}
	return p.Image(d)
}
