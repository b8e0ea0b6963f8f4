package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/lifecycle/create"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/rebase"
)

func rebaseCommand() *cli.Command {
	return &cli.Command{
		Name:      "rebase",
		Usage:     "put an app image on a new run image without rebuilding it",
		ArgsUsage: "NAME",
		Description: "Swaps the run image layers under an app image for those of the new run image\n" +
			"(--run-image, else the run image the app records, at its current digest, or a\n" +
			"mirror) and keeps every layer above byte for byte. In a registry only the new\n" +
			"config and manifest move. Unsafe rebases are refused unless --force is given.\n" +
			"A recorded name without a registry (kiln/debian-bookworm-run:latest) is one in\n" +
			"the local store: it is never looked up on Docker Hub, and a registry image\n" +
			"recording one needs --run-image.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "run-image", Usage: "new run image (reference, oci:DIR or docker-archive:FILE); default: the one the app records"},
			&cli.BoolFlag{Name: "publish", Usage: "rebase the image in its registry instead of the local store"},
			&cli.BoolFlag{Name: "force", Usage: "rebase even when the run image is not known to be compatible"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the result to oci:DIR or docker-archive:FILE instead of back where the image came from"},
			signKeyFlag,
			&cli.StringFlag{Name: "report", Usage: "write a JSON report to FILE when it ends: the image and its new digest, or the failing phase, exit code and message (as kiln build --report)"},
		},
		Action: runRebase,
	}
}

func runRebase(c *cli.Context) (err error) {
	var res *rebase.RunResult
	if p := c.String("report"); p != "" {
		started := time.Now()
		defer func() {
			r := buildReport{Phases: []create.PhaseTime{{Name: "rebase", Started: started, Duration: time.Since(started)}}}
			if res != nil && err == nil {
				r.Image, r.Digest = res.Output.Name, res.Digest.String()
			}
			if werr := writeReportFile(p, c, r, err); werr != nil && err == nil {
				err = werr
			}
		}()
	}
	if c.NArg() != 1 {
		return usageError("rebase: give exactly one image NAME")
	}
	name, err := imageio.NormalizeName(c.Args().First())
	if err != nil {
		return usageError("rebase: %v", err)
	}
	var out *imageio.Location
	if s := c.String("output"); s != "" {
		loc, err := imageio.ParseOutput(s, name)
		if err != nil {
			return usageError("rebase: %v", err)
		}
		out = &loc
	}
	store, err := openStore()
	if err != nil {
		return err
	}
	iio := imageio.New(store)
	signing, err := newRebaseSigning(c, iio, name)
	if err != nil {
		return err
	}
	res, err = rebase.Run(c.Context, iio, rebase.RunOptions{
		Image:    name,
		Publish:  c.Bool("publish"),
		Output:   out,
		RunImage: c.String("run-image"),
		Force:    c.Bool("force"),
		Log:      c.App.ErrWriter,
	})
	if err == nil {
		err = signing.afterRebase(c, iio, res)
	}
	if err != nil {
		return err
	}
	w := c.App.Writer
	fmt.Fprintf(w, "old run image: %s\n", res.Old.Reference)
	fmt.Fprintf(w, "new run image: %s\n", res.New.Reference)
	where := res.Output.Kind.String()
	if res.Output.Kind == imageio.Layout || res.Output.Kind == imageio.Archive {
		where = res.Output.String()
	}
	fmt.Fprintf(w, "Successfully rebased %s (%s)\n%s\n", name, where, res.Digest)
	return nil
}
