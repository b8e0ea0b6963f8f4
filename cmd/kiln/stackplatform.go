package main

import (
	"context"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/stacks/debian"
	"github.com/kiln-build/kiln/stacks/stack"
)

// stackPlatformFlag makes kiln stack build build for several platforms.
var stackPlatformFlag = &cli.StringFlag{Name: "platform", Usage: "build both images for these platforms (os/arch[,os/arch...], e.g. linux/amd64,linux/arm64; foreign ones under qemu user emulation) and write each as an OCI image index; default: stack.toml's arch alone, as single images"}

// platformStack is a stack's two images for one platform.
type platformStack struct {
	platform v1.Platform
	imgs     *stack.Images
}

// buildStackPlatforms builds s once per platform: each platform's Debian
// architecture replaces stack.toml's arch. Platforms build one after the
// other: mmdebstrap takes the machine's CPUs and its disk.
func buildStackPlatforms(ctx context.Context, s *stack.Stack, spec, cache string, refresh bool, log io.Writer) ([]platformStack, error) {
	plats, err := imageio.ParsePlatforms(spec)
	if err != nil {
		return nil, usageError("stack build: --platform: %v", err)
	}
	var out []platformStack
	for _, p := range plats {
		arch, err := debian.ArchFor(p.OS, p.Architecture, p.Variant)
		if err != nil {
			return nil, usageError("stack build: --platform: %v", err)
		}
		if msg := debian.QemuMissing(arch); msg != "" {
			return nil, failure.New("stack", failure.InvalidInput, fmt.Errorf("stack build: %s", msg))
		}
		fmt.Fprintf(log, "==> platform %s (Debian %s)\n", imageio.PlatformString(p), arch)
		imgs, err := stack.Build(ctx, s, stack.Options{CacheDir: stackCacheDir(cache), Log: log, Refresh: refresh, Arch: arch})
		if err != nil {
			return nil, failure.New("stack", failure.Generic, err)
		}
		// The index entry says what the image's config says (arm64 as v8).
		if p, err = imageio.PlatformOf(imgs.Run); err != nil {
			return nil, failure.New("stack", failure.Generic, err)
		}
		out = append(out, platformStack{platform: p, imgs: imgs})
	}
	return out, nil
}

// writeStackIndexes writes each kind's images as one index and prints
// its digest and platforms.
func writeStackIndexes(c *cli.Context, iio *imageio.IO, built []platformStack, buildLoc, runLoc imageio.Location) error {
	for _, w := range []struct {
		kind string
		loc  imageio.Location
		pick func(*stack.Images) v1.Image
	}{
		{"build", buildLoc, func(i *stack.Images) v1.Image { return i.Build }},
		{"run", runLoc, func(i *stack.Images) v1.Image { return i.Run }},
	} {
		var pis []imageio.PlatformImage
		for _, b := range built {
			pis = append(pis, imageio.PlatformImage{Platform: b.platform, Image: w.pick(b.imgs)})
		}
		idx, err := imageio.NewIndex(pis)
		if err != nil {
			return failure.New("stack", failure.Generic, err)
		}
		if err := iio.WriteIndex(c.Context, w.loc, idx); err != nil {
			return failure.New("stack", failure.Generic, fmt.Errorf("writing the %s image index: %w", w.kind, err))
		}
		d, err := idx.Digest()
		if err != nil {
			return failure.New("stack", failure.Generic, err)
		}
		fmt.Fprintf(c.App.Writer, "%s image index: %s\n  %s\n", w.kind, w.loc, d)
		for _, pi := range pis {
			cd, _ := pi.Image.Digest()
			fmt.Fprintf(c.App.Writer, "  %s: %s\n", imageio.PlatformString(pi.Platform), cd)
		}
	}
	return nil
}
