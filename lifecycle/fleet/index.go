package fleet

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/rebase"
)

// rebaseIndex rebases every image of a multi-platform app index onto the
// run image of its platform (the matching entry of the run image's
// index) and pushes the rewritten index under the app's tag, unless the
// tag moved meanwhile. Every image moves, or none. The Resigner, if any,
// is then given the old and new index digests.
func (f *Fleet) rebaseIndex(ctx context.Context, c *conn, im *Image, o RebaseOptions, r *Result) *Result {
	apps, err := imageio.IndexImages(im.idx)
	if err != nil {
		return r.set(Failed, err.Error())
	}
	var out []imageio.PlatformImage
	for _, a := range apps {
		img, reason, err := f.rebasePlatform(ctx, im, a, o)
		switch {
		case err != nil:
			return r.set(Failed, fmt.Sprintf("%s image: %v", imageio.PlatformString(a.Platform), err))
		case reason != "":
			return r.set(Refused, fmt.Sprintf("%s image: %s", imageio.PlatformString(a.Platform), reason))
		}
		out = append(out, imageio.PlatformImage{Platform: a.Platform, Image: img})
	}
	idx, err := imageio.NewIndex(out)
	if err != nil {
		return r.set(Failed, err.Error())
	}
	d, err := idx.Digest()
	if err != nil {
		return r.set(Failed, err.Error())
	}
	r.NewDigest = d.String()
	if o.DryRun {
		return r.set(WouldRebase, "")
	}
	if _, err := unmoved(ctx, c, im); err != nil {
		return r.set(Failed, err.Error())
	}
	if err := f.iio.WriteIndex(ctx, imageio.Location{Kind: imageio.Registry, Name: im.Ref}, idx); err != nil {
		return r.set(Failed, err.Error())
	}
	return f.resign(ctx, im, r)
}

// rebasePlatform rebases one image of an index; reason says why it was
// refused.
func (f *Fleet) rebasePlatform(ctx context.Context, im *Image, a imageio.PlatformImage, o RebaseOptions) (v1.Image, string, error) {
	run, err := im.run.forPlatform(ctx, f.iio, a.Platform)
	if err != nil {
		return nil, "", fmt.Errorf("run image %s: %w", im.run.name, err)
	}
	d, err := run.Digest()
	if err != nil {
		return nil, "", err
	}
	rn, err := name.ParseReference(im.run.name, name.WeakValidation)
	if err != nil {
		return nil, "", err
	}
	res, err := rebase.Rebase(ctx, a.Image, rebase.Options{
		RunImage:          run,
		RunImageName:      im.run.name,
		RunImageReference: rn.Context().Digest(d.String()).String(),
		Requested:         im.run.requested,
		Force:             o.Force,
	})
	var refused *rebase.RefusedError
	switch {
	case errors.As(err, &refused):
		return nil, refused.Reason, nil
	case err != nil:
		return nil, "", err
	}
	return res.Image, "", nil
}
