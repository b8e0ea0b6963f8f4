package main

import (
	"context"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/lifecycle/builder"
	"github.com/kiln-build/kiln/lifecycle/buildpackage"
	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
)

// createPlatformBuilders makes one builder per --platform and writes
// them as one index at out (one platform: its builder alone).
func createPlatformBuilders(c *cli.Context, iio *imageio.IO, cfg *builder.Config, out imageio.Location, mt time.Time, tmp string) error {
	plats, err := imageio.ParsePlatforms(c.String("platform"))
	if err != nil {
		return usageError("builder create: --platform: %v", err)
	}
	var imgs []imageio.PlatformImage
	for _, p := range plats {
		img, err := builder.CreateFromConfig(c.Context, cfg, builder.ConfigOptions{
			Images:   platformSource(iio, p),
			Version:  version,
			ModTime:  mt,
			TempDir:  tmp,
			Log:      c.App.ErrWriter,
			Platform: &p,
		})
		if err != nil {
			return toolFailure("builder create", fmt.Errorf("platform %s: %w", imageio.PlatformString(p), err))
		}
		imgs = append(imgs, imageio.PlatformImage{Platform: p, Image: img})
	}
	res, err := writePlatformImages(c.Context, iio, out, imgs, false)
	if err != nil {
		return failure.New("builder create", failure.Generic, err)
	}
	fmt.Fprintf(c.App.Writer, "Successfully created builder %s (%d platforms)\n%s\n", out, len(imgs), res.Digest)
	return nil
}

// platformSource opens image references as imageSource does, taking the
// image for p of an index.
func platformSource(iio *imageio.IO, p v1.Platform) buildpackage.ImageSource {
	return buildpackage.ImageSourceFunc(func(ctx context.Context, ref string) (v1.Image, error) {
		loc, err := imageio.ParseSource(ref)
		if err != nil {
			return nil, err
		}
		return iio.OpenPlatform(ctx, loc, true, p)
	})
}
