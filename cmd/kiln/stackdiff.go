package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/stacks/debian/dpkg"
	"github.com/kiln-build/kiln/stacks/stack"
)

// previousStack is the image a new stack image is compared with: the
// one at its destination before it is replaced, or the one named by
// --previous-build / --previous-run.
type previousStack struct {
	Name   string `json:"previous"`
	Digest string `json:"previousDigest,omitempty"`
	// Missing says there was no previous image (or it could not be read).
	Missing string `json:"missing,omitempty"`
	pkgs    []dpkg.Package
}

// stackDiff is one image's entry in --diff-json.
type stackDiff struct {
	previousStack
	Digest string `json:"digest"`
	*stack.PackageDiff
}

// readPrevious reads the package list of the image at loc, or of the one
// flag names. Its absence is no error: the first build has nothing to
// compare with.
func readPrevious(ctx context.Context, iio *imageio.IO, loc imageio.Location, flag string) previousStack {
	if flag != "" {
		src, err := imageio.ParseSource(flag)
		if err != nil {
			return previousStack{Name: flag, Missing: err.Error()}
		}
		loc = src
	}
	p := previousStack{Name: loc.String()}
	img, err := iio.Open(ctx, loc, flag != "")
	if err != nil {
		if imageio.IsNotFound(err) {
			p.Missing = "no image there yet"
		} else {
			p.Missing = err.Error()
		}
		return p
	}
	if d, err := img.Digest(); err == nil {
		p.Digest = d.String()
	}
	if p.pkgs, err = stack.ImagePackages(img); err != nil {
		p.Missing = err.Error()
	}
	return p
}

// printStackDiff says what changed in the packages of a new stack image,
// and returns the entry for --diff-json.
func printStackDiff(out io.Writer, kind string, prev previousStack, img v1.Image) (*stackDiff, error) {
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	sd := &stackDiff{previousStack: prev, Digest: d.String()}
	if prev.Missing != "" {
		fmt.Fprintf(out, "  packages: nothing to compare with (%s: %s)\n", prev.Name, prev.Missing)
		return sd, nil
	}
	pkgs, err := stack.ImagePackages(img)
	if err != nil {
		return nil, fmt.Errorf("the new %s image's packages: %w", kind, err)
	}
	diff := stack.DiffPackages(prev.pkgs, pkgs)
	sd.PackageDiff = &diff
	if diff.Empty() {
		fmt.Fprintf(out, "  packages: unchanged since %s (%s)\n", prev.Name, short(prev.Digest))
		return sd, nil
	}
	fmt.Fprintf(out, "  packages since %s (%s): %s\n", prev.Name, short(prev.Digest), diff.Summary())
	for _, l := range diff.Lines() {
		fmt.Fprintf(out, "    %s\n", l)
	}
	return sd, nil
}

// writeDiffJSON writes the --diff-json file.
func writeDiffJSON(path string, diffs map[string]*stackDiff) error {
	b, err := json.MarshalIndent(diffs, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return failure.New("stack", failure.Generic, fmt.Errorf("writing --diff-json: %w", err))
	}
	return nil
}
