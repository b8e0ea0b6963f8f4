package main

import (
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/lifecycle/buildpackage"
	"github.com/kiln-build/kiln/lifecycle/imageio"
)

// packagePlatforms are the platforms kiln buildpack package makes an
// index of: --platform's (one of them: nil, a single image for it is made
// the usual way only when package.toml says nothing else), else
// package.toml's [[targets]] when there are several; nil means one image.
func packagePlatforms(c *cli.Context, cfg *buildpackage.Config) ([]v1.Platform, error) {
	if spec := c.String("platform"); spec != "" {
		plats, err := imageio.ParsePlatforms(spec)
		if err != nil {
			return nil, usageError("buildpack package: --platform: %v", err)
		}
		return plats, nil
	}
	ts := cfg.Platforms()
	if len(ts) < 2 {
		return nil, nil
	}
	plats := make([]v1.Platform, len(ts))
	for i, t := range ts {
		plats[i] = v1.Platform{OS: "linux", Architecture: t.Arch, Variant: t.Variant}
	}
	return plats, nil
}

// packageIndex packages the buildpack once per platform (each image's
// config names it; the buildpack must declare a target for it) and
// writes the images at loc, as an index when there are several.
func packageIndex(c *cli.Context, iio *imageio.IO, cfg *buildpackage.Config, r *buildpackage.Resolver, loc imageio.Location, mt time.Time, plats []v1.Platform) error {
	const cmd = "buildpack package"
	var imgs []imageio.PlatformImage
	for _, p := range plats {
		img, err := buildpackage.FromConfig(c.Context, cfg, r, buildpackage.Options{ModTime: mt, Arch: p.Architecture, Variant: p.Variant})
		if err != nil {
			return toolFailure(cmd, fmt.Errorf("platform %s: %w", imageio.PlatformString(p), err))
		}
		imgs = append(imgs, imageio.PlatformImage{Platform: p, Image: img})
	}
	res, err := writePlatformImages(c.Context, iio, loc, imgs, false)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "Successfully packaged %s (%d platforms)\n%s\n", loc, len(imgs), res.Digest)
	return nil
}
