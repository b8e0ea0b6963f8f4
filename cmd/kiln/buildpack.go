package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/lifecycle/buildpackage"
	"github.com/kiln-build/kiln/lifecycle/create"
	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
)

func buildpackCommand() *cli.Command {
	return &cli.Command{
		Name:  "buildpack",
		Usage: "package buildpacks for distribution",
		Subcommands: []*cli.Command{
			{
				Name:      "package",
				Usage:     "package a buildpack (and a composite buildpack's members) as a .cnb file or an image",
				ArgsUsage: "OUT",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "path", Aliases: []string{"p"}, Value: ".", Usage: "the buildpack directory"},
					&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "package.toml naming the buildpack and its dependencies (default: DIR/package.toml when present)"},
					&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: `"file" (a .cnb) or "image" (default: file when OUT ends in .cnb, else image)`},
					&cli.BoolFlag{Name: "publish", Usage: "push the package image to its registry"},
					&cli.StringFlag{Name: "platform", Usage: "package for these platforms (os/arch[,...]) as one OCI image index, one image each (default: package.toml's [[targets]] when it lists several, else one image)"},
				},
				Action: runBuildpackPackage,
			},
		},
	}
}

func runBuildpackPackage(c *cli.Context) error {
	const cmd = "buildpack package"
	if c.NArg() != 1 {
		return usageError("%s: give exactly one OUT (a .cnb file or an image name)", cmd)
	}
	out := c.Args().First()
	format := c.String("format")
	if format == "" {
		format = "image"
		if strings.HasSuffix(out, ".cnb") {
			format = "file"
		}
	}
	var loc imageio.Location
	switch format {
	case "file":
		if c.Bool("publish") {
			return usageError("%s: --publish needs --format image", cmd)
		}
	case "image":
		ref, err := imageio.NormalizeName(out)
		if err != nil {
			return usageError("%s: %v", cmd, err)
		}
		loc = imageio.Location{Kind: imageio.Store, Name: ref}
		if c.Bool("publish") {
			loc.Kind = imageio.Registry
		}
	default:
		return usageError("%s: --format %q: want file or image", cmd, format)
	}
	mt, err := create.SourceDateEpoch()
	if err != nil {
		return usageError("%s: %v", cmd, err)
	}
	cfg, err := packageConfig(c)
	if err != nil {
		return toolFailure(cmd, err)
	}
	iio, cache, err := setup()
	if err != nil {
		return err
	}
	tmp, err := workDir(cache, "package-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	r := &buildpackage.Resolver{Images: imageSource(iio), Layers: buildpackage.LayerOptions{ModTime: mt, TempDir: tmp}}
	plats, err := packagePlatforms(c, cfg)
	if err != nil {
		return err
	}
	if plats != nil {
		if format == "file" {
			return usageError("%s: a .cnb file holds one platform: give one --platform, or --format image for an index", cmd)
		}
		return packageIndex(c, iio, cfg, r, loc, mt, plats)
	}
	img, err := buildpackage.FromConfig(c.Context, cfg, r, buildpackage.Options{ModTime: mt})
	if err != nil {
		return toolFailure(cmd, err)
	}
	if format == "file" {
		if err := buildpackage.WriteFile(c.Context, out, img); err != nil {
			return failure.New(cmd, failure.Generic, err)
		}
	} else if err := iio.Write(c.Context, loc, img); err != nil {
		return failure.New(cmd, failure.Generic, err)
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	where := out
	if format == "image" {
		where = loc.String()
	}
	fmt.Fprintf(c.App.Writer, "Successfully packaged %s\n%s\n", where, d)
	return nil
}

// packageConfig is --config, else DIR/package.toml when present, else the
// directory alone. An explicit --path names the buildpack even when a
// --config is given.
func packageConfig(c *cli.Context) (*buildpackage.Config, error) {
	dir, err := filepath.Abs(c.String("path"))
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, &buildpackage.InputError{Err: fmt.Errorf("--path %s: not a directory", c.String("path"))}
	}
	if c.String("config") != "" {
		cfg, err := buildpackage.ReadConfig(c.String("config"))
		if err != nil {
			return nil, err
		}
		if c.IsSet("path") {
			cfg.Buildpack.URI = dir
		}
		return cfg, nil
	}
	p := filepath.Join(dir, buildpackage.ConfigFile)
	if _, err := os.Stat(p); err == nil {
		return buildpackage.ReadConfig(p)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	return buildpackage.DefaultConfig(dir), nil
}
