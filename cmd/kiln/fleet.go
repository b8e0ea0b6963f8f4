package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/fleet"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/sign/release"
)

func fleetCommand() *cli.Command {
	source := []cli.Flag{
		&cli.StringFlag{Name: "from-file", Usage: "read image references from FILE (one a line, # comments) instead of listing a PREFIX"},
		&cli.StringFlag{Name: "run-image", Usage: "compare with (and rebase onto) this run image instead of each app's recorded one"},
		&cli.IntFlag{Name: "concurrency", Value: fleet.DefaultConcurrency, Usage: "images read and rebased at once"},
		&cli.IntFlag{Name: "max-repos", Value: fleet.DefaultMaxRepositories, Usage: "most repositories a PREFIX may hold"},
		&cli.IntFlag{Name: "max-tags", Value: fleet.DefaultMaxTags, Usage: "most tags, in all, under a PREFIX"},
		&cli.BoolFlag{Name: "json", Usage: "print JSON"},
	}
	return &cli.Command{
		Name:  "fleet",
		Usage: "find the app images on an outdated run image and rebase them all",
		Description: "Every tag of every repository under a registry PREFIX (REGISTRY[/PATH], read with\n" +
			"the registry's catalog and tags API), or the references in --from-file, is read\n" +
			"(manifest and config only) and compared with the newest digest of the run image\n" +
			"it records (or a mirror, or --run-image). Images that are not CNB app images are\n" +
			"skipped with the reason.",
		Subcommands: []*cli.Command{{
			Name:      "status",
			Usage:     "list the app images and whether their run image is the newest",
			ArgsUsage: "PREFIX | --from-file LIST",
			Flags:     source,
			Action:    runFleetStatus,
		}, {
			Name:      "rebase",
			Usage:     "rebase every outdated app image onto its newest run image, in parallel",
			ArgsUsage: "PREFIX | --from-file LIST",
			Description: "Rebases each outdated app image in its registry (a config and a manifest move;\n" +
				"no layer) and moves its tag once the new manifest is complete, unless the tag\n" +
				"moved meanwhile. Unsafe rebases are refused unless --force. Prints a summary and\n" +
				"exits 72 when any image failed. A second run finds every image current.",
			Flags: append(source,
				&cli.BoolFlag{Name: "dry-run", Usage: "say what would be rebased; write nothing"},
				&cli.BoolFlag{Name: "force", Usage: "rebase even when the run image is not known to be compatible"},
				signKeyFlag,
			),
			Action: runFleetRebase,
		}},
	}
}

// fleetRefs lists the images the flags and argument name.
func fleetRefs(c *cli.Context, f *fleet.Fleet, cmd string) ([]string, error) {
	file := c.String("from-file")
	switch {
	case file != "" && c.NArg() > 0:
		return nil, usageError("fleet %s: give a PREFIX or --from-file, not both", cmd)
	case file == "" && c.NArg() != 1:
		return nil, usageError("fleet %s: give one registry PREFIX (such as registry.example.com/team) or --from-file LIST", cmd)
	case file != "":
		f, err := os.Open(file)
		if err != nil {
			return nil, usageError("fleet %s: --from-file: %v", cmd, err)
		}
		defer f.Close()
		refs, err := fleet.ReadList(f)
		if err != nil {
			return nil, usageError("fleet %s: %s: %v", cmd, file, err)
		}
		return refs, nil
	}
	p, err := fleet.ParsePrefix(c.Args().First())
	if err != nil {
		return nil, usageError("fleet %s: %v", cmd, err)
	}
	refs, err := f.List(c.Context, p, fleet.Limits{MaxRepositories: c.Int("max-repos"), MaxTags: c.Int("max-tags")})
	if err != nil {
		return nil, failure.New("fleet", failure.Generic, err)
	}
	return refs, nil
}

func newFleet(c *cli.Context) (*fleet.Fleet, error) {
	iio := imageio.New(nil)
	opts := []fleet.Option{fleet.WithConcurrency(c.Int("concurrency"))}
	if c.String("sign-key") != "" && !c.Bool("dry-run") {
		s, err := newBuildSigning(c)
		if err != nil {
			return nil, err
		}
		if err := s.key(c); err != nil {
			return nil, err
		}
		opts = append(opts, fleet.WithResigner(&fleetResigner{c: c, iio: iio, s: s}))
	}
	return fleet.New(iio, opts...), nil
}

// fleetResigner attests and signs each image (or image index) kiln fleet
// rebase moved, as kiln rebase --sign-key does.
type fleetResigner struct {
	c   *cli.Context
	iio *imageio.IO
	s   *publishSigning
}

func (r *fleetResigner) Resign(ctx context.Context, from, to name.Digest) error {
	index, err := isIndex(ctx, r.iio, to)
	if err != nil {
		return err
	}
	if index {
		return release.RebaseIndex(ctx, from, to, version, r.s.started, r.s.options(r.c, r.iio))
	}
	img, err := r.iio.Remote(ctx, to.String())
	if err != nil {
		return err
	}
	return release.Rebase(ctx, from, to, img, version, r.s.started, r.s.options(r.c, r.iio))
}

func runFleetStatus(c *cli.Context) error {
	f, err := newFleet(c)
	if err != nil {
		return err
	}
	refs, err := fleetRefs(c, f, "status")
	if err != nil {
		return err
	}
	st := f.Status(c.Context, refs, c.String("run-image"))
	if err := c.Context.Err(); err != nil {
		return err
	}
	if c.Bool("json") {
		return writeJSON(c.App.Writer, map[string]any{"images": st})
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tDIGEST\tRUN IMAGE\tSTATUS\tBUILDER\tBUILDPACKS\tAGE")
	outdated := 0
	for _, im := range st {
		if im.Outdated {
			outdated++
		}
		fmt.Fprintln(tw, strings.Join(statusRow(im, time.Now()), "\t"))
	}
	tw.Flush()
	fmt.Fprintf(c.App.Writer, "%d images, %d outdated\n", len(st), outdated)
	return nil
}

// statusRow is one line of `kiln fleet status`.
func statusRow(im *fleet.Image, now time.Time) []string {
	row := []string{im.Ref, short(im.Digest), "", "", "-", "-", "-"}
	switch {
	case im.Error != "":
		row[3] = "error: " + im.Error
		return row
	case im.Skipped != "":
		row[3] = "skipped: " + im.Skipped
		return row
	}
	row[2] = orDash(short(im.RunDigest))
	switch {
	case im.RunImageError != "":
		row[3] = "run image unreadable: " + im.RunImageError
	case im.Outdated:
		row[2] += " -> " + short(im.LatestRunDigest)
		row[3] = "outdated (" + im.LatestRunImage + ")"
	default:
		row[3] = "current"
	}
	row[4] = orDash(im.Builder)
	var bps []string
	for _, bp := range im.Buildpacks {
		bps = append(bps, bp.ID+"@"+bp.Version)
	}
	row[5] = orDash(strings.Join(bps, ","))
	if im.Created != nil {
		row[6] = now.Sub(*im.Created).Round(time.Minute).String()
	}
	return row
}

func runFleetRebase(c *cli.Context) error {
	f, err := newFleet(c)
	if err != nil {
		return err
	}
	refs, err := fleetRefs(c, f, "rebase")
	if err != nil {
		return err
	}
	s, err := f.Rebase(c.Context, refs, fleet.RebaseOptions{
		RunImage: c.String("run-image"),
		Force:    c.Bool("force"),
		DryRun:   c.Bool("dry-run"),
	})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		err = writeJSON(c.App.Writer, s)
	} else {
		printSummary(c.App.Writer, s)
	}
	if err != nil {
		return err
	}
	if n := s.Count(fleet.Failed); n > 0 {
		return failure.New("fleet rebase", failure.RebaseError, fmt.Errorf("%d of %d images failed", n, len(s.Results)))
	}
	return nil
}

// printSummary prints the counts, then one line per image.
func printSummary(w io.Writer, s *fleet.Summary) {
	var counts []string
	for _, o := range fleet.Outcomes {
		if n := s.Count(o); n > 0 || o != fleet.WouldRebase {
			counts = append(counts, fmt.Sprintf("%d %s", n, o))
		}
	}
	fmt.Fprintf(w, "%d images: %s\n", len(s.Results), strings.Join(counts, ", "))
	for _, r := range s.Results {
		switch r.Outcome {
		case fleet.Rebased, fleet.WouldRebase:
			fmt.Fprintf(w, "%s: %s: %s -> %s (run image %s -> %s)\n", r.Outcome, r.Ref, short(r.Digest), short(r.NewDigest), orDash(short(r.RunDigest)), short(r.LatestRunDigest))
			for _, o := range r.Overridden {
				fmt.Fprintf(w, "  warning: --force: %s\n", o)
			}
		case fleet.Current:
			fmt.Fprintf(w, "current: %s (run image %s)\n", r.Ref, short(r.RunDigest))
		default:
			fmt.Fprintf(w, "%s: %s: %s\n", r.Outcome, r.Ref, r.Reason)
		}
	}
}

// short is a digest's first 12 hex digits, with its algorithm.
func short(d string) string {
	if alg, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return alg + ":" + hex[:12]
	}
	return d
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
