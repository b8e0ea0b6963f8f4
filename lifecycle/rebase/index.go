package rebase

import (
	"context"
	"errors"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
)

// runIndex rebases every image of the app's image index onto the run
// image for its platform (the matching image of a run image index, or a
// single run image of that platform) and writes the rewritten index to
// dst. Either every image moves or nothing is written. The result's
// Result and run image fields are the first image's; Digest is the new
// index's.
func runIndex(ctx context.Context, iio *imageio.IO, o RunOptions, appName string, idx v1.ImageIndex, dst imageio.Location) (*RunResult, error) {
	if dst.Kind == imageio.Archive {
		return nil, failure.New("rebase", failure.InvalidInput,
			fmt.Errorf("%s is an image index of several platforms: a docker-archive holds one image (write oci:DIR, or rebase in place)", appName))
	}
	apps, err := imageio.IndexImages(idx)
	if err != nil {
		return nil, failure.New("rebase", failure.RebaseError, fmt.Errorf("%s: %w", appName, err))
	}
	if len(apps) == 0 {
		return nil, failure.New("rebase", failure.RebaseNotAppImage, fmt.Errorf("%s: the image index holds no image with a platform", appName))
	}
	var out []imageio.PlatformImage
	var first *RunResult
	for _, a := range apps {
		res, err := rebaseOne(ctx, iio, o, appName, a)
		if err != nil {
			return nil, err
		}
		if first == nil {
			first = res
		}
		out = append(out, imageio.PlatformImage{Platform: a.Platform, Image: res.Image})
	}
	newIdx, err := imageio.NewIndex(out)
	if err != nil {
		return nil, failure.New("rebase", failure.RebaseError, err)
	}
	if err := iio.WriteIndex(ctx, dst, newIdx); err != nil {
		return nil, failure.New("rebase", failure.RebaseError, err)
	}
	if first.Digest, err = newIdx.Digest(); err != nil {
		return nil, failure.New("rebase", failure.RebaseError, err)
	}
	first.Output = dst
	return first, nil
}

// rebaseOne rebases the app image of one platform of an index.
func rebaseOne(ctx context.Context, iio *imageio.IO, o RunOptions, appName string, a imageio.PlatformImage) (*RunResult, error) {
	plat := imageio.PlatformString(a.Platform)
	cfg, err := a.Image.ConfigFile()
	if err != nil {
		return nil, failure.New("rebase", failure.RebaseError, fmt.Errorf("reading the %s image's config of %s: %w", plat, appName, err))
	}
	old, err := AppRunImage(cfg)
	if err != nil {
		return nil, failure.New("rebase", failure.RebaseNotAppImage, fmt.Errorf("%s (%s): %w", appName, plat, err))
	}
	p := a.Platform
	run, err := openRunImage(ctx, iio, o, appName, old, &p)
	if err != nil {
		return nil, failure.New("rebase", failure.RebaseRunImage, fmt.Errorf("%s image: %w", plat, err))
	}
	newDigest, err := run.img.Digest()
	if err != nil {
		return nil, failure.New("rebase", failure.RebaseRunImage, fmt.Errorf("reading run image %s digest: %w", run.name, err))
	}
	fmt.Fprintf(o.Log, "[%s] Run image %s (%s)\n", plat, run.name, newDigest)
	res, err := Rebase(ctx, a.Image, Options{
		RunImage:          run.img,
		RunImageName:      run.name,
		RunImageReference: run.reference,
		Requested:         o.RunImage != "",
		Force:             o.Force,
	})
	var refused *RefusedError
	switch {
	case errors.As(err, &refused):
		return nil, failure.New("rebase", failure.RebaseRefused, fmt.Errorf("%s image: %w", plat, err))
	case errors.Is(err, ErrNotAppImage):
		return nil, failure.New("rebase", failure.RebaseNotAppImage, fmt.Errorf("%s (%s): %w", appName, plat, err))
	case err != nil:
		return nil, failure.New("rebase", failure.RebaseError, fmt.Errorf("%s image: %w", plat, err))
	}
	for _, w := range res.Overridden {
		fmt.Fprintf(o.Log, "warning: --force: [%s] %s\n", plat, w)
	}
	return &RunResult{Result: *res, RunImageName: run.name, OldRunDigest: referenceDigest(old.Reference), NewRunDigest: newDigest}, nil
}
