package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/inspect"
	"github.com/kiln-build/kiln/stacks/debian"
	"github.com/kiln-build/kiln/stacks/stack"
)

func stackCommand() *cli.Command {
	return &cli.Command{
		Name:  "stack",
		Usage: "build CNB stacks (a build image and a run image) from Debian packages",
		Subcommands: []*cli.Command{{
			Name:      "build",
			Usage:     "build a stack's build and run images from its stack.toml with mmdebstrap",
			ArgsUsage: "stacks/NAME",
			Description: "Reads stacks/NAME/stack.toml, builds both images (cached by recipe under kiln's\n" +
				"cache dir, so an unchanged recipe is not rebuilt unless --refresh) and writes them,\n" +
				"by default to the local store as kiln/NAME-build:latest and kiln/NAME-run:latest.\n" +
				"The same recipe and the same package versions give the same digests.\n" +
				"The Debian packages added, removed, upgraded and downgraded since the images\n" +
				"being replaced (or --previous-build/--previous-run) are printed (--diff-json).",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "tag-build", Usage: "name of the build image (default kiln/NAME-build:latest)"},
				&cli.StringFlag{Name: "tag-run", Usage: "name of the run image (default kiln/NAME-run:latest)"},
				&cli.BoolFlag{Name: "publish", Usage: "push both images to their registries (needs --tag-build and --tag-run)"},
				&cli.StringFlag{Name: "output-build", Usage: "write the build image to oci:DIR or docker-archive:FILE instead"},
				&cli.StringFlag{Name: "output-run", Usage: "write the run image to oci:DIR or docker-archive:FILE instead"},
				&cli.BoolFlag{Name: "refresh", Usage: "rebuild even when the recipe is cached, to pick up updated packages"},
				&cli.StringFlag{Name: "previous-build", Usage: "compare the build image's packages with this image (default: the one being replaced)"},
				&cli.StringFlag{Name: "previous-run", Usage: "compare the run image's packages with this image (default: the one being replaced)"},
				&cli.StringFlag{Name: "diff-json", Usage: "write the package differences with the previous images to FILE as JSON"},
				stackPlatformFlag,
			},
			Action: runStackBuild,
		}},
	}
}

func runStackBuild(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("stack build: give exactly one stack directory (for example stacks/debian-bookworm)")
	}
	s, err := stack.Read(c.Args().First())
	if err != nil {
		return failure.New("stack", failure.InvalidInput, err)
	}
	buildLoc, runLoc, err := stackOutputs(c, s)
	if err != nil {
		return err
	}
	iio, cache, err := setup()
	if err != nil {
		return err
	}
	for _, loc := range []imageio.Location{buildLoc, runLoc} {
		if err := iio.CheckWritable(c.Context, loc); err != nil {
			return failure.New("stack", failure.Generic, err)
		}
	}
	if spec := c.String("platform"); spec != "" {
		built, err := buildStackPlatforms(c.Context, s, spec, cache, c.Bool("refresh"), c.App.ErrWriter)
		if err != nil {
			return err
		}
		return writeStackIndexes(c, iio, built, buildLoc, runLoc)
	}
	prevBuild := readPrevious(c.Context, iio, buildLoc, c.String("previous-build"))
	prevRun := readPrevious(c.Context, iio, runLoc, c.String("previous-run"))
	imgs, err := buildStack(c.Context, s, cache, c.Bool("refresh"), c.App.ErrWriter)
	if err != nil {
		return err
	}
	diffs := map[string]*stackDiff{}
	for _, w := range []struct {
		kind string
		loc  imageio.Location
		img  v1.Image
		prev previousStack
	}{{"build", buildLoc, imgs.Build, prevBuild}, {"run", runLoc, imgs.Run, prevRun}} {
		if err := writeStackImage(c.Context, iio, c.App.Writer, w.kind, w.loc, w.img); err != nil {
			return err
		}
		if diffs[w.kind], err = printStackDiff(c.App.Writer, w.kind, w.prev, w.img); err != nil {
			return failure.New("stack", failure.Generic, err)
		}
	}
	if p := c.String("diff-json"); p != "" {
		return writeDiffJSON(p, diffs)
	}
	return nil
}

// stackOutputs turns the flags into where the two images go.
func stackOutputs(c *cli.Context, s *stack.Stack) (build, run imageio.Location, err error) {
	publish := c.Bool("publish")
	if publish && (c.String("output-build") != "" || c.String("output-run") != "") {
		return build, run, usageError("stack build: --publish and --output-build/--output-run exclude each other")
	}
	if publish && (c.String("tag-build") == "" || c.String("tag-run") == "") {
		return build, run, usageError("stack build: --publish needs --tag-build and --tag-run naming registry images")
	}
	one := func(tagFlag, outFlag, def string) (imageio.Location, error) {
		n := def
		if t := c.String(tagFlag); t != "" {
			var err error
			if n, err = imageio.NormalizeName(t); err != nil {
				return imageio.Location{}, usageError("stack build: --%s: %v", tagFlag, err)
			}
		}
		switch {
		case publish:
			return imageio.Location{Kind: imageio.Registry, Name: n}, nil
		case c.String(outFlag) != "":
			loc, err := imageio.ParseOutput(c.String(outFlag), n)
			if err != nil {
				return imageio.Location{}, usageError("stack build: --%s: %v", outFlag, err)
			}
			return loc, nil
		}
		return imageio.Location{Kind: imageio.Store, Name: n}, nil
	}
	if build, err = one("tag-build", "output-build", s.BuildImageName()); err != nil {
		return build, run, err
	}
	if run, err = one("tag-run", "output-run", s.RunImageName()); err != nil {
		return build, run, err
	}
	// One OCI layout can hold both images; one archive file cannot.
	if build.Kind == imageio.Archive && run.Kind == imageio.Archive && filepath.Clean(build.Path) == filepath.Clean(run.Path) {
		return build, run, usageError("stack build: --output-build and --output-run name the same docker-archive file")
	}
	return build, run, nil
}

// stackCacheDir is where built stack images are cached, by recipe:
// $KILN_STACK_CACHE, else "stacks" in kiln's cache dir. Stack images take
// minutes to build, so tests share one stack cache across runs.
func stackCacheDir(cache string) string {
	if d := os.Getenv("KILN_STACK_CACHE"); d != "" {
		return d
	}
	return filepath.Join(cache, "stacks")
}

// buildStack builds both images of s, reporting progress to log. Errors
// about the recipe (a package or suite the mirror lacks) are input errors.
func buildStack(ctx context.Context, s *stack.Stack, cache string, refresh bool, log io.Writer) (*stack.Images, error) {
	imgs, err := stack.Build(ctx, s, stack.Options{CacheDir: stackCacheDir(cache), Log: log, Refresh: refresh})
	if err != nil {
		var te *debian.ToolError
		if errors.As(err, &te) && te.Key != "" {
			return nil, failure.New("stack", failure.InvalidInput, err)
		}
		return nil, failure.New("stack", failure.Generic, err)
	}
	return imgs, nil
}

// writeStackImage writes one stack image and reports its digest and
// compressed size.
func writeStackImage(ctx context.Context, iio *imageio.IO, out io.Writer, kind string, loc imageio.Location, img v1.Image) error {
	if err := iio.Write(ctx, loc, img); err != nil {
		return failure.New("stack", failure.Generic, fmt.Errorf("writing the %s image: %w", kind, err))
	}
	d, err := img.Digest()
	if err != nil {
		return failure.New("stack", failure.Generic, err)
	}
	size, err := compressedSize(img)
	if err != nil {
		return failure.New("stack", failure.Generic, err)
	}
	fmt.Fprintf(out, "%s image: %s\n  %s, %s compressed\n", kind, loc, d, inspect.HumanSize(size))
	return nil
}

// compressedSize is the sum of an image's compressed layer sizes.
func compressedSize(img v1.Image) (int64, error) {
	layers, err := img.Layers()
	if err != nil {
		return 0, fmt.Errorf("reading image layers: %w", err)
	}
	var n int64
	for _, l := range layers {
		s, err := l.Size()
		if err != nil {
			return 0, fmt.Errorf("reading layer size: %w", err)
		}
		n += s
	}
	return n, nil
}
