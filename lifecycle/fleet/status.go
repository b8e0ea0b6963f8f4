package fleet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/labels"
	"github.com/kiln-build/kiln/lifecycle/rebase"
)

// BuilderLabel names the builder an app image was built with (name@digest),
// which kiln's exporter records; the CNB labels have no such field.
// Status reports it when present.
const BuilderLabel = labels.KilnBuilder

// MaxConfigSize bounds the config blob Status reads of an image.
const MaxConfigSize = 8 << 20

// Image is what Status found out about one image.
type Image struct {
	// Ref is the image reference (a tag) as listed.
	Ref string `json:"image"`
	// Digest is the manifest digest the tag named when it was read.
	Digest string `json:"digest,omitempty"`
	// Skipped says why the image is not a CNB app image; empty for one.
	Skipped string `json:"skipped,omitempty"`
	// Error says why the image could not be read.
	Error string `json:"error,omitempty"`

	// RunImage and Mirrors are the run image the app records.
	RunImage string   `json:"runImage,omitempty"`
	Mirrors  []string `json:"mirrors,omitempty"`
	// RunDigest is the digest of the run image the app sits on (from
	// runImage.reference; empty when the app records none).
	RunDigest string `json:"runImageDigest,omitempty"`
	// LatestRunImage is the run image name read (the recorded one, a
	// mirror, or the one given), LatestRunDigest its digest now.
	LatestRunImage  string `json:"latestRunImage,omitempty"`
	LatestRunDigest string `json:"latestRunImageDigest,omitempty"`
	// RunImageError says why no run image could be read.
	RunImageError string `json:"runImageError,omitempty"`
	// Outdated says the app does not sit on LatestRunDigest.
	Outdated bool `json:"outdated"`

	Builder    string      `json:"builder,omitempty"`
	Buildpacks []Buildpack `json:"buildpacks,omitempty"`
	// Created is when the image was built; nil when it carries the fixed
	// time of a reproducible build, which says nothing.
	Created *time.Time `json:"created,omitempty"`
	// Index says the tag names a multi-platform image index; the fields
	// above describe its linux entry for this machine's architecture.
	Index bool `json:"index,omitempty"`

	app v1.Image
	idx v1.ImageIndex // the index the tag names, when it names one
	ri  labels.RunImage
	run *resolved
}

// Buildpack is a buildpack that took part in an app's build.
type Buildpack struct {
	ID      string `json:"id"`
	Version string `json:"version"`
}

// inspect reads ref's manifest and config and fills in an Image; the run
// image is resolved through f's cache. Errors end up in the Image.
func (f *Fleet) inspect(ctx context.Context, c *conn, ref, runImage string) *Image {
	im := &Image{Ref: ref}
	r, err := name.ParseReference(ref, name.WeakValidation)
	if err != nil {
		im.Error = err.Error()
		return im
	}
	desc, err := c.pull.Get(ctx, r)
	if err != nil {
		im.Error = fmt.Sprintf("reading %s: %v", ref, err)
		return im
	}
	im.Digest = desc.Digest.String()
	img, idx, skip, err := appImage(desc)
	switch {
	case err != nil:
		im.Error = fmt.Sprintf("reading %s: %v", ref, err)
		return im
	case skip != "":
		im.Skipped = skip
		return im
	}
	im.idx, im.Index = idx, idx != nil
	cfg, skip, err := config(img)
	switch {
	case err != nil:
		im.Error = fmt.Sprintf("reading %s: %v", ref, err)
		return im
	case skip != "":
		im.Skipped = skip
		return im
	}
	ri, err := rebase.AppRunImage(cfg)
	if err != nil {
		im.Skipped = err.Error()
		return im
	}
	im.app, im.ri = img, ri
	im.RunImage, im.Mirrors = ri.Image, ri.Mirrors
	if _, d, ok := strings.Cut(ri.Reference, "@"); ok {
		im.RunDigest = d
	}
	describe(im, cfg)
	im.run = f.resolve(ctx, ref, ri, runImage)
	if im.run.err != nil {
		im.RunImageError = im.run.err.Error()
		return im
	}
	im.LatestRunImage, im.LatestRunDigest = im.run.name, im.run.digest.String()
	im.Outdated = im.RunDigest != im.LatestRunDigest
	return im
}

// appImage returns the image desc names (the linux entry for this
// machine's architecture of an index, with the index), or why it is
// skipped.
func appImage(desc *remote.Descriptor) (v1.Image, v1.ImageIndex, string, error) {
	switch mt := desc.MediaType; {
	case mt.IsImage():
		img, err := desc.Image()
		return img, nil, "", err
	case mt.IsIndex():
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, nil, "", err
		}
		img, err := imageio.ChildFor(idx, imageio.HostPlatform(), "the image index")
		var none *imageio.NoPlatformError
		if errors.As(err, &none) {
			return nil, nil, fmt.Sprintf("an image index with no %s entry", imageio.PlatformString(none.Want)), nil
		}
		return img, idx, "", err
	case mt.IsSchema1():
		return nil, nil, "a Docker schema 1 manifest, which CNB tools do not make", nil
	default:
		return nil, nil, fmt.Sprintf("not an image: media type %q", string(mt)), nil
	}
}

// config reads img's config, refusing one over MaxConfigSize or that is
// not an image config.
func config(img v1.Image) (*v1.ConfigFile, string, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, "", err
	}
	if m.Config.Size > MaxConfigSize {
		return nil, fmt.Sprintf("its config is %d bytes, more than the %d read", m.Config.Size, MaxConfigSize), nil
	}
	switch m.Config.MediaType {
	case types.OCIConfigJSON, types.DockerConfigJSON, "":
	default:
		return nil, fmt.Sprintf("not an image: config media type %q", string(m.Config.MediaType)), nil
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, "", fmt.Errorf("reading config: %w", err)
	}
	return cfg, "", nil
}

// describe fills in the builder, buildpacks and build time.
func describe(im *Image, cfg *v1.ConfigFile) {
	im.Builder = cfg.Config.Labels[BuilderLabel]
	var build labels.Build
	if ok, err := labels.Decode(cfg, labels.BuildMetadata, &build); ok && err == nil {
		for _, bp := range build.Buildpacks {
			im.Buildpacks = append(im.Buildpacks, Buildpack{ID: bp.ID, Version: bp.Version})
		}
	} else {
		var md labels.Lifecycle
		if ok, err := labels.Decode(cfg, labels.LifecycleMetadata, &md); ok && err == nil {
			for _, bp := range md.Buildpacks {
				im.Buildpacks = append(im.Buildpacks, Buildpack{ID: bp.Key, Version: bp.Version})
			}
		}
	}
	if t := cfg.Created.Time; !t.IsZero() && !t.Equal(archive.DefaultModTime) && t.Year() > 1980 {
		t = t.UTC()
		im.Created = &t
	}
}

// resolved is one run image, read once for the whole fleet.
type resolved struct {
	img       v1.Image
	name      string // the name it was read by
	reference string // repository@digest
	digest    v1.Hash
	requested bool // named by the user rather than recorded
	err       error

	// What name holds now (an index or one image), read once for every
	// multi-platform app rebased onto it.
	openOnce sync.Once
	idx      v1.ImageIndex
	single   v1.Image
	openErr  error
}

// forPlatform is the run image for platform p: read by name once for
// the whole fleet, then the entry for p of its index, or the single
// image when it is of p.
func (r *resolved) forPlatform(ctx context.Context, iio *imageio.IO, p v1.Platform) (v1.Image, error) {
	loc := imageio.Location{Kind: imageio.Registry, Name: r.name}
	r.openOnce.Do(func() { r.idx, r.single, r.openErr = iio.OpenIndex(ctx, loc, false) })
	if r.openErr != nil {
		return nil, r.openErr
	}
	return imageio.SelectPlatform(r.idx, r.single, p, loc.String())
}

// resolve returns the run image for an app recording ri: runImage when
// given, else the first readable of the recorded image and its mirrors
// (those on the app's registry first). Each distinct answer is computed
// once.
func (f *Fleet) resolve(ctx context.Context, appRef string, ri labels.RunImage, runImage string) *resolved {
	cands := []string{runImage}
	if runImage == "" {
		cands = rebase.Candidates(ri, appRef)
	}
	key := strings.Join(cands, "\n")
	f.mu.Lock()
	e, ok := f.runs[key]
	if !ok {
		e = &runEntry{}
		f.runs[key] = e
	}
	f.mu.Unlock()
	e.once.Do(func() { e.r = f.readRun(ctx, cands, runImage != "") })
	return e.r
}

// readRun reads the first readable candidate from its registry.
func (f *Fleet) readRun(ctx context.Context, cands []string, requested bool) *resolved {
	if len(cands) == 0 {
		return &resolved{err: errors.New("the app records no run image name: name one with --run-image")}
	}
	var errs []error
	for _, c := range cands {
		if !imageio.NamesRegistry(c) {
			errs = append(errs, fmt.Errorf("run image %s names no registry: it is a name in a local store", c))
			continue
		}
		img, err := f.iio.Remote(ctx, c)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		d, err := img.Digest()
		if err != nil {
			errs = append(errs, fmt.Errorf("reading run image %s: %w", c, err))
			continue
		}
		r, err := name.ParseReference(c, name.WeakValidation)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		return &resolved{img: img, name: c, reference: r.Context().Digest(d.String()).String(), digest: d, requested: requested}
	}
	return &resolved{err: fmt.Errorf("no run image could be read (tried %s): %w", strings.Join(cands, ", "), errors.Join(errs...))}
}
