package main

import (
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/sbom"
)

func sbomCommand() *cli.Command {
	return &cli.Command{
		Name:      "sbom",
		Usage:     "print the SBOM of an app image: the run image's packages and the buildpacks' SBOMs",
		ArgsUsage: "IMAGE",
		Description: "IMAGE is a name in the local store (then its registry), oci:DIR or\n" +
			"docker-archive:FILE. The document is CycloneDX 1.5 JSON, or SPDX 2.3 JSON\n" +
			"with --format spdx; each component says which layer it came from\n" +
			"(kiln:source, kiln:layer, kiln:buildpack).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "cyclonedx", Usage: "cyclonedx or spdx"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the document to `FILE` instead of standard output"},
		},
		Action: runSBOM,
		Subcommands: []*cli.Command{{
			Name:      "download",
			Usage:     "write the buildpacks' SBOM files of an app image into a directory, laid out as pack sbom download lays them out",
			ArgsUsage: "IMAGE",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "output-dir", Aliases: []string{"o"}, Value: "layers", Usage: "the `DIR` that gets sbom/launch/<buildpack>/[<layer>/]sbom.<ext>"},
			},
			Action: runSBOMDownload,
		}},
	}
}

// sbomImage opens the one IMAGE argument of kiln sbom (download), as
// kiln inspect does.
func sbomImage(c *cli.Context, cmd string) (v1.Image, error) {
	if c.NArg() != 1 {
		return nil, usageError("%s: give exactly one IMAGE", cmd)
	}
	loc, err := imageio.ParseSource(c.Args().First())
	if err != nil {
		return nil, usageError("%s: %v", cmd, err)
	}
	iio, _, err := setup()
	if err != nil {
		return nil, err
	}
	img, err := iio.Open(c.Context, loc, true)
	if err != nil {
		return nil, failure.New("sbom", failure.Generic, err)
	}
	return img, nil
}

func runSBOMDownload(c *cli.Context) error {
	img, err := sbomImage(c, "sbom download")
	if err != nil {
		return err
	}
	files, err := sbom.Files(c.Context, img)
	if err != nil {
		return failure.New("sbom", failure.InvalidInput, err)
	}
	dir := filepath.Join(c.String("output-dir"), "sbom")
	if err := sbom.WriteFiles(dir, files); err != nil {
		return failure.New("sbom", failure.Generic, err)
	}
	fmt.Fprintf(c.App.Writer, "Wrote %d SBOM files to %s\n", len(files), dir)
	return nil
}

func runSBOM(c *cli.Context) error {
	format := c.String("format")
	if format != "cyclonedx" && format != "spdx" {
		return usageError("sbom: --format is cyclonedx or spdx, not %q", format)
	}
	img, err := sbomImage(c, "sbom")
	if err != nil {
		return err
	}
	arg := c.Args().First()
	b, err := sbom.Read(c.Context, img)
	if err != nil {
		return failure.New("sbom", failure.InvalidInput, err)
	}
	b.Name = arg
	var doc []byte
	if format == "spdx" {
		doc, err = b.SPDX()
	} else {
		doc, err = b.CycloneDX()
	}
	if err != nil {
		return failure.New("sbom", failure.Generic, err)
	}
	if out := c.String("output"); out != "" {
		if err := os.WriteFile(out, doc, 0o644); err != nil {
			return failure.New("sbom", failure.Generic, err)
		}
		return nil
	}
	_, err = c.App.Writer.Write(doc)
	return err
}
