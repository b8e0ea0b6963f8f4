package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/lifecycle/builder"
	"github.com/kiln-build/kiln/lifecycle/buildpackage"
	"github.com/kiln-build/kiln/lifecycle/create"
	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/inspect"
)

func builderCommand() *cli.Command {
	return &cli.Command{
		Name:  "builder",
		Usage: "create and list builder images",
		Subcommands: []*cli.Command{
			{
				Name:      "create",
				Usage:     "create a builder image from a builder.toml",
				ArgsUsage: "REF",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Value: builder.ConfigFile, Usage: "the builder.toml describing the builder"},
					&cli.BoolFlag{Name: "publish", Usage: "push the builder to its registry"},
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the builder to oci:DIR or docker-archive:FILE instead of the local store"},
					&cli.StringFlag{Name: "platform", Usage: "make one builder per platform (os/arch[,...], each among builder.toml's [[targets]]) from the build image's image for it, written as one OCI image index; every buildpack must declare a target for each"},
				},
				Action: runBuilderCreate,
			},
			{
				Name:   "ls",
				Usage:  "list the builders in kiln's local store",
				Flags:  []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}},
				Action: runBuilderLs,
			},
		},
	}
}

func runBuilderCreate(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("builder create: give exactly one image REF")
	}
	ref, err := imageio.NormalizeName(c.Args().First())
	if err != nil {
		return usageError("builder create: %v", err)
	}
	out, err := outputLocation(c, "builder create", ref)
	if err != nil {
		return err
	}
	mt, err := create.SourceDateEpoch()
	if err != nil {
		return usageError("builder create: %v", err)
	}
	cfg, err := builder.ReadConfig(c.String("config"))
	if err != nil {
		return toolFailure("builder create", err)
	}
	iio, cache, err := setup()
	if err != nil {
		return err
	}
	tmp, err := workDir(cache, "builder-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if c.String("platform") != "" {
		return createPlatformBuilders(c, iio, cfg, out, mt, tmp)
	}
	img, err := builder.CreateFromConfig(c.Context, cfg, builder.ConfigOptions{
		Images:  imageSource(iio),
		Version: version,
		ModTime: mt,
		TempDir: tmp,
		Log:     c.App.ErrWriter,
	})
	if err != nil {
		return toolFailure("builder create", err)
	}
	if err := iio.Write(c.Context, out, img); err != nil {
		return failure.New("builder create", failure.Generic, err)
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "Successfully created builder %s\n%s\n", out, d)
	return nil
}

func runBuilderLs(c *cli.Context) error {
	if c.NArg() != 0 {
		return usageError("builder ls: takes no arguments")
	}
	store, err := openStore()
	if err != nil {
		return err
	}
	list, err := inspect.Builders(store)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tDIGEST\tBUILDPACKS\tDESCRIPTION")
	for _, b := range list {
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", b.Name, b.Digest[:19], b.Buildpacks, b.Description)
	}
	return w.Flush()
}

// outputLocation turns --publish and --output into where an image named
// ref goes: the registry, oci:DIR / docker-archive:FILE, else the local
// store.
func outputLocation(c *cli.Context, cmd, ref string) (imageio.Location, error) {
	switch {
	case c.Bool("publish") && c.String("output") != "":
		return imageio.Location{}, usageError("%s: --publish and --output exclude each other", cmd)
	case c.Bool("publish"):
		return imageio.Location{Kind: imageio.Registry, Name: ref}, nil
	case c.String("output") != "":
		loc, err := imageio.ParseOutput(c.String("output"), ref)
		if err != nil {
			return imageio.Location{}, usageError("%s: %v", cmd, err)
		}
		return loc, nil
	}
	return imageio.Location{Kind: imageio.Store, Name: ref}, nil
}

// imageSource opens image references as kiln build does: oci:DIR,
// docker-archive:FILE, else the local store, then the registry.
func imageSource(iio *imageio.IO) buildpackage.ImageSource {
	return buildpackage.ImageSourceFunc(func(ctx context.Context, ref string) (v1.Image, error) {
		loc, err := imageio.ParseSource(ref)
		if err != nil {
			return nil, err
		}
		return iio.Open(ctx, loc, true)
	})
}

// toolFailure gives errors about what the user wrote the invalid-input
// exit code, others the generic one, under the command's name.
func toolFailure(cmd string, err error) error {
	if buildpackage.IsInputError(err) || errors.Is(err, os.ErrNotExist) {
		return failure.New(cmd, failure.InvalidInput, err)
	}
	return failure.New(cmd, failure.Generic, err)
}

// workDir makes a fresh directory for layer files under kiln's cache.
func workDir(cache, prefix string) (string, error) {
	dir := filepath.Join(cache, "tmp")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", dir, err)
	}
	tmp, err := os.MkdirTemp(dir, prefix)
	if err != nil {
		return "", fmt.Errorf("creating a work dir in %s: %w", dir, err)
	}
	return tmp, nil
}
