package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/internal/linewriter"
	"github.com/kiln-build/kiln/lifecycle/create"
	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/stacks/debian"
)

// buildPlatformFlag is pack's --platform.
var buildPlatformFlag = &cli.StringFlag{Name: "platform", Usage: "build for these platforms (os/arch[/variant][,...], e.g. linux/amd64,linux/arm64): one build per platform, in parallel, each with its own cache, published as one OCI image index; foreign platforms run under qemu user emulation except where a buildpack cross-compiles (Go); the builder and run image must have an image for each (default: the host's, as a single image)"}

// platformImages is a build's view of images for one platform: an image
// index read anywhere answers with its image for that platform, and the
// app image written to out is staged there (pushed by digest, or its
// blobs written) for the index, unless it is the only platform, which is
// written as usual.
type platformImages struct {
	iio      *imageio.IO
	platform v1.Platform
	out      imageio.Location
	only     bool

	mu  sync.Mutex
	img v1.Image
}

var _ create.Images = (*platformImages)(nil)

func (p *platformImages) Open(ctx context.Context, loc imageio.Location, remoteFallback bool) (v1.Image, error) {
	return p.iio.OpenPlatform(ctx, loc, remoteFallback, p.platform)
}

func (p *platformImages) Write(ctx context.Context, loc imageio.Location, img v1.Image) error {
	if loc == p.out {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.only {
			p.img = img
			return p.iio.Write(ctx, loc, img)
		}
		staged, err := p.iio.StageImage(ctx, loc, img)
		p.img = staged
		return err
	}
	return p.iio.Write(ctx, loc, img)
}

func (p *platformImages) CheckWritable(ctx context.Context, loc imageio.Location) error {
	return p.iio.CheckWritable(ctx, loc)
}

// RegistryIO lets a --cache-image reach its registry.
func (p *platformImages) RegistryIO() *imageio.IO { return p.iio }

// platformBuild is one platform's build.
type platformBuild struct {
	platform v1.Platform
	res      *create.Result
	err      error
}

// runPlatformBuilds runs one create.Run per platform, in parallel, and
// writes the images as one index at opts.Output (one platform: its image
// alone). Each build's log lines are prefixed with its platform.
func runPlatformBuilds(c *cli.Context, iio *imageio.IO, opts create.Options, plats []v1.Platform) (*create.Result, error) {
	if len(plats) > 1 && opts.Output.Kind == imageio.Archive {
		return nil, usageError("build: a docker-archive holds one image: give one --platform for it, or write an index with --output oci:DIR or --publish")
	}
	for _, p := range plats {
		if arch, err := debian.ArchFor(p.OS, p.Architecture, p.Variant); err == nil {
			if msg := debian.QemuMissing(arch); msg != "" {
				return nil, failure.New("build", failure.InvalidInput, errors.New(msg))
			}
		}
	}
	if err := checkBuilderPlatforms(c.Context, iio, opts.Builder, plats); err != nil {
		return nil, err
	}
	builds := make([]*platformBuild, len(plats))
	var wg sync.WaitGroup
	out := &lockedWriter{w: c.App.Writer}
	for i, p := range plats {
		b := &platformBuild{platform: p}
		builds[i] = b
		o := opts
		pw := linewriter.New(out, "["+imageio.PlatformString(p)+"] ")
		o.Log = create.NewTextLog(pw)
		o.CacheKey = opts.Name + "@" + imageio.PlatformString(p)
		if o.CacheImage != "" {
			o.CacheImage = platformTag(o.CacheImage, p)
		}
		o.Env = append(append([]string(nil), o.Env...), "KILN_BUILD_PLATFORM="+imageio.PlatformString(imageio.HostPlatform()))
		wg.Add(1)
		go func() {
			defer wg.Done()
			pi := &platformImages{iio: iio, platform: p, out: o.Output, only: len(plats) == 1}
			b.res, b.err = create.Run(c.Context, pi, o)
			pw.Flush()
			if b.err == nil {
				b.res.Image = pi.img
			}
		}()
	}
	wg.Wait()
	var imgs []imageio.PlatformImage
	for _, b := range builds {
		if b.err != nil {
			return nil, platformError(b.platform, b.err)
		}
		imgs = append(imgs, imageio.PlatformImage{Platform: b.platform, Image: b.res.Image})
	}
	res, err := writePlatformImages(c.Context, iio, opts.Output, imgs, true)
	if err == nil && len(builds) == 1 {
		res.BuildSBOM = builds[0].res.BuildSBOM
	}
	return res, err
}

// writePlatformImages writes imgs at loc: an index of them, or one image
// alone (unless written says it is there already). Each entry's platform
// is what its image's config says.
func writePlatformImages(ctx context.Context, iio *imageio.IO, loc imageio.Location, imgs []imageio.PlatformImage, written bool) (*create.Result, error) {
	for i := range imgs {
		p, err := imageio.PlatformOf(imgs[i].Image)
		if err != nil {
			return nil, failure.New("export", failure.ExportError, err)
		}
		imgs[i].Platform = p
	}
	if len(imgs) == 1 {
		if !written {
			if err := iio.Write(ctx, loc, imgs[0].Image); err != nil {
				return nil, failure.New("export", failure.ExportError, err)
			}
		}
		d, err := imgs[0].Image.Digest()
		return &create.Result{Image: imgs[0].Image, Digest: d, Output: loc}, err
	}
	idx, err := imageio.NewIndex(imgs)
	if err != nil {
		return nil, failure.New("export", failure.ExportError, err)
	}
	if err := iio.WriteIndex(ctx, loc, idx); err != nil {
		return nil, failure.New("export", failure.ExportError, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return nil, failure.New("export", failure.ExportError, err)
	}
	return &create.Result{Digest: d, Output: loc}, nil
}

// platformError names the platform whose build failed, keeping the
// phase's exit code.
func platformError(p v1.Platform, err error) error {
	if fe, ok := err.(*failure.Error); ok {
		return &failure.Error{Phase: fe.Phase, Code: fe.Code, Err: fmt.Errorf("platform %s: %w", imageio.PlatformString(p), fe.Err)}
	}
	return fmt.Errorf("platform %s: %w", imageio.PlatformString(p), err)
}

// platformTag gives ref a tag of its own per platform: TAG-ARCH[VARIANT].
func platformTag(ref string, p v1.Platform) string {
	suffix := p.Architecture + p.Variant
	if t, err := name.NewTag(ref, name.WeakValidation); err == nil {
		return t.Context().Tag(t.TagStr() + "-" + suffix).String()
	}
	return ref + "-" + suffix
}

// lockedWriter serialises writes from parallel builds.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// buildPlatforms reads --platform: nil when not given (the host's
// platform, today's single-image build). An index is signed (--sign-key)
// and tagged (--tag) as an image is, but the files made of one image
// (SBOM files, reports) need one platform.
func buildPlatforms(c *cli.Context) ([]v1.Platform, error) {
	spec := c.String("platform")
	if spec == "" {
		return nil, nil
	}
	plats, err := imageio.ParsePlatforms(spec)
	if err != nil {
		return nil, usageError("build: --platform: %v", err)
	}
	if len(plats) > 1 {
		for _, f := range []string{"sbom-output-dir", "report-output-dir", "report"} {
			if c.IsSet(f) {
				return nil, usageError("build: --%s works on one image: give one --platform with it (building %d platforms makes an index)", f, len(plats))
			}
		}
	}
	return plats, nil
}

// checkBuilderPlatforms fails before any build starts when the builder
// has no image for one of plats, naming the builder and what it has.
// Other errors reading it are left to the builds, which report them.
func checkBuilderPlatforms(ctx context.Context, iio *imageio.IO, ref string, plats []v1.Platform) error {
	loc, err := imageio.ParseSource(ref)
	if err != nil {
		return nil
	}
	for _, p := range plats {
		_, err := iio.OpenPlatform(ctx, loc, true, p)
		var npe *imageio.NoPlatformError
		if errors.As(err, &npe) {
			return failure.New("builder", failure.InvalidInput, fmt.Errorf("builder %s has no image for platform %s (it has: %s): make one with kiln builder create --platform", ref, imageio.PlatformString(p), strings.Join(npe.Have, ", ")))
		}
	}
	return nil
}
