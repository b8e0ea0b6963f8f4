package create

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/lifecycle/builder"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// analyze checks that the destination takes the image, then finds the
// app's previous image there for layer reuse. No previous image is a cold
// build; any other error reading it (credentials, network, a broken
// image) fails the build: building cold would hide it and cost the cache.
func (j *job) analyze(ctx context.Context) error {
	if err := j.images.CheckWritable(ctx, j.o.Output); err != nil {
		return failure.New("analyze", failure.AnalyzeError, err)
	}
	if !byName(j.o.Output) {
		return nil
	}
	r := j.report("analyze")
	prev, err := j.images.Open(ctx, j.o.Output, false)
	if imageio.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return failure.New("analyze", failure.AnalyzeError,
			fmt.Errorf("reading the previous image %s: %w", j.o.Output, err))
	}
	cfg, err := prev.ConfigFile()
	if err != nil {
		return failure.New("analyze", failure.AnalyzeError,
			fmt.Errorf("reading the config of the previous image %s: %w", j.o.Output, err))
	}
	var md labels.Lifecycle
	ok, err := labels.Decode(cfg, labels.LifecycleMetadata, &md)
	switch {
	case err != nil:
		r.warn("the previous image %s has an unreadable %s label (%v): building without it", j.o.Output, labels.LifecycleMetadata, err)
		return nil
	case !ok:
		r.info("The previous image %s is not a buildpacks app image: building without it", j.o.Output)
		return nil
	}
	d, err := prev.Digest()
	if err != nil {
		return failure.New("analyze", failure.AnalyzeError,
			fmt.Errorf("reading the digest of the previous image %s: %w", j.o.Output, err))
	}
	r.step("ANALYZED previous image %s", d)
	j.previous, j.prevMD = prev, &md
	return nil
}

// byName says whether loc names its image in a place that keeps the
// app's earlier builds (the local store, a registry), as opposed to a
// layout or archive written anew.
func byName(loc imageio.Location) bool {
	return loc.Kind == imageio.Store || loc.Kind == imageio.Registry
}

// openBuilder opens the builder image and unpacks its root file system.
func (j *job) openBuilder(ctx context.Context) error {
	r := j.report("builder")
	r.step("BUILDER %s", j.o.Builder)
	loc, err := imageio.ParseSource(j.o.Builder)
	if err != nil {
		return failure.New("builder", failure.InvalidInput, err)
	}
	img, err := j.images.Open(ctx, loc, true)
	if err != nil {
		return failure.New("builder", failure.Generic, err)
	}
	if j.b, err = builder.Open(ctx, img, j.o.CacheDir, infoLines(j.log, "builder")); err != nil {
		return failure.New("builder", failure.Generic, fmt.Errorf("%s: %w", j.o.Builder, err))
	}
	return nil
}

// runImage is the resolved run image.
type runImage struct {
	img     v1.Image
	name    string
	mirrors []string
	// ref names it uniquely (see runReference).
	ref    string
	target descriptor.RunTarget
}

// openRunImage resolves the run image: --run-image, else the builder's.
func (j *job) openRunImage(ctx context.Context) error {
	n, mirrors, err := chooseRunImage(j.b, j.o.RunImage)
	if err != nil {
		return failure.New("builder", failure.InvalidInput, err)
	}
	j.report("run image").step("RUN IMAGE %s", n)
	loc, err := imageio.ParseSource(n)
	if err != nil {
		return failure.New("run image", failure.InvalidInput, err)
	}
	img, err := j.images.Open(ctx, loc, true)
	if err != nil {
		return failure.New("run image", failure.Generic, err)
	}
	ri := runImage{img: img, name: n, mirrors: mirrors}
	if ri.ref, err = runReference(img, n, loc); err != nil {
		return failure.New("run image", failure.Generic, err)
	}
	if ri.target, err = targetOf(img); err != nil {
		return failure.New("run image", failure.Generic, err)
	}
	j.run = ri
	return nil
}

func chooseRunImage(b *builder.Builder, override string) (string, []string, error) {
	if override != "" {
		return override, nil, nil
	}
	if len(b.Run.Images) == 0 || b.Run.Images[0].Image == "" {
		return "", nil, errors.New("the builder names no run image (/cnb/run.toml): pass --run-image")
	}
	return b.Run.Images[0].Image, b.Run.Images[0].Mirrors, nil
}

// runReference names the run image uniquely: a digest reference for an
// image known by name (store, registry), else its image ID.
func runReference(img v1.Image, runName string, loc imageio.Location) (string, error) {
	if byName(loc) {
		d, err := img.Digest()
		if err != nil {
			return "", fmt.Errorf("reading run image digest: %w", err)
		}
		if ref, err := name.ParseReference(runName, name.WeakValidation); err == nil {
			return ref.Context().Digest(d.String()).String(), nil
		}
	}
	id, err := img.ConfigName()
	if err != nil {
		return "", fmt.Errorf("reading run image id: %w", err)
	}
	return id.String(), nil
}

func targetOf(img v1.Image) (descriptor.RunTarget, error) {
	cfg, err := img.ConfigFile()
	if err != nil {
		return descriptor.RunTarget{}, fmt.Errorf("reading run image config: %w", err)
	}
	t := descriptor.RunTarget{OS: cfg.OS, Arch: cfg.Architecture, ArchVariant: cfg.Variant}
	if t.OS == "" {
		t.OS = "linux"
	}
	t.DistroName = cfg.Config.Labels[labels.BaseDistroName]
	t.DistroVersion = cfg.Config.Labels[labels.BaseDistroVersion]
	return t, nil
}
