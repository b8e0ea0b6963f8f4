package main

import (
	"encoding/json"
	"os"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/lifecycle/buildpackage"
	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/inspect"
)

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "describe an app image, a builder or a buildpackage",
		ArgsUsage: "IMAGE",
		Description: "IMAGE is a name in the local store (then its registry), oci:DIR,\n" +
			"docker-archive:FILE, or a .cnb file.",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			&cli.StringFlag{Name: "platform", Usage: "of an image index, describe only the image of this platform (os/arch[/variant])"}},
		Action: runInspect,
	}
}

func runInspect(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("inspect: give exactly one IMAGE")
	}
	arg := c.Args().First()
	var img v1.Image
	if fi, err := os.Stat(arg); err == nil && fi.Mode().IsRegular() && strings.HasSuffix(arg, ".cnb") {
		if img, err = buildpackage.OpenFile(arg); err != nil {
			return toolFailure("inspect", err)
		}
	} else {
		loc, err := imageio.ParseSource(arg)
		if err != nil {
			return usageError("inspect: %v", err)
		}
		iio, _, err := setup()
		if err != nil {
			return err
		}
		if c.String("platform") == "" {
			idx, one, err := iio.OpenIndex(c.Context, loc, true)
			if err != nil {
				return failure.New("inspect", failure.Generic, err)
			}
			if idx != nil {
				return inspectIndex(c, loc, idx)
			}
			img = one
		} else if img, err = openForPlatform(c, iio, loc); err != nil {
			return failure.New("inspect", failure.Generic, err)
		}
	}
	r, err := inspect.Inspect(img)
	if err != nil {
		return failure.New("inspect", failure.InvalidInput, err)
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return r.WriteText(c.App.Writer)
}
