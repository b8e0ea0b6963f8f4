package main

import (
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/inspect"
)

// openForPlatform opens loc as the command's --platform says: that
// platform's image of an index (a single image must be of it), else the
// image for the host's platform.
func openForPlatform(c *cli.Context, iio *imageio.IO, loc imageio.Location) (v1.Image, error) {
	spec := c.String("platform")
	if spec == "" {
		return iio.Open(c.Context, loc, true)
	}
	plats, err := imageio.ParsePlatforms(spec)
	if err != nil || len(plats) != 1 {
		return nil, usageError("%s: --platform %q: want one os/arch[/variant], such as linux/arm64", c.Command.Name, spec)
	}
	return iio.OpenPlatform(c.Context, loc, true, plats[0])
}

// indexReport is kiln inspect's JSON of an image index.
type indexReport struct {
	Index  string             `json:"index"`
	Digest string             `json:"digest"`
	Images []indexImageReport `json:"images"`
}

type indexImageReport struct {
	Platform string          `json:"platform"`
	Digest   string          `json:"digest"`
	Image    *inspect.Report `json:"image"`
}

// inspectIndex describes an image index and each of its images.
func inspectIndex(c *cli.Context, loc imageio.Location, idx v1.ImageIndex) error {
	d, err := idx.Digest()
	if err != nil {
		return failure.New("inspect", failure.Generic, err)
	}
	pis, err := imageio.IndexImages(idx)
	if err != nil {
		return failure.New("inspect", failure.Generic, err)
	}
	rep := indexReport{Index: loc.String(), Digest: d.String()}
	for _, pi := range pis {
		cd, err := pi.Image.Digest()
		if err != nil {
			return failure.New("inspect", failure.Generic, err)
		}
		r, err := inspect.Inspect(pi.Image)
		if err != nil {
			return failure.New("inspect", failure.InvalidInput, fmt.Errorf("the %s image: %w", imageio.PlatformString(pi.Platform), err))
		}
		rep.Images = append(rep.Images, indexImageReport{Platform: imageio.PlatformString(pi.Platform), Digest: cd.String(), Image: r})
	}
	w := c.App.Writer
	if c.Bool("json") {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintf(w, "Image index %s\n  digest: %s\n  platforms:\n", rep.Index, rep.Digest)
	for _, im := range rep.Images {
		fmt.Fprintf(w, "    %s  %s\n", im.Platform, im.Digest)
	}
	for _, im := range rep.Images {
		fmt.Fprintf(w, "\n[%s]\n", im.Platform)
		if err := im.Image.WriteText(w); err != nil {
			return err
		}
	}
	return nil
}
