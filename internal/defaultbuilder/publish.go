package defaultbuilder

import (
	"context"
	"fmt"
	"io"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
)

// Registry takes published images: imageio.IO writing to a registry
// location is the real one.
type Registry interface {
	Push(ctx context.Context, ref string, img v1.Image) error
}

// RegistryFunc makes a function a Registry.
type RegistryFunc func(ctx context.Context, ref string, img v1.Image) error

// Push calls f.
func (f RegistryFunc) Push(ctx context.Context, ref string, img v1.Image) error {
	return f(ctx, ref, img)
}

// Published names what Publish pushed.
type Published struct {
	// Build and Run are the stack's images: PREFIX/build:latest and
	// PREFIX/run:latest.
	Build, Run string
	// Builder is the default builder naming Run as its run image:
	// PREFIX/builder:latest.
	Builder string
}

// PublishedNames are the names Publish pushes to under prefix
// (REGISTRY/PATH).
func PublishedNames(prefix string) (Published, error) {
	prefix = strings.TrimSuffix(prefix, "/")
	p := Published{Build: prefix + "/build:latest", Run: prefix + "/run:latest", Builder: prefix + "/builder:latest"}
	for _, n := range []string{p.Build, p.Run, p.Builder} {
		if _, err := imageio.NormalizeName(n); err != nil {
			return Published{}, fmt.Errorf("publish prefix %q: %w", prefix, err)
		}
	}
	if !imageio.NamesRegistry(p.Builder) {
		return Published{}, fmt.Errorf("publish prefix %q names no registry: want REGISTRY/PATH, e.g. registry.example.com/kiln", prefix)
	}
	return p, nil
}

// Publish pushes the default stack's build and run images and a default
// builder whose run.toml names the published run image to the registry
// under prefix (see PublishedNames), making them in the store first when
// needed, so that CI and other hosts can build with --builder
// PREFIX/builder:latest and rebase onto PREFIX/run.
func Publish(ctx context.Context, o Options, prefix string, reg Registry) (Published, error) {
	p, err := PublishedNames(prefix)
	if err != nil {
		return Published{}, failure.New("default builder", failure.InvalidInput, err)
	}
	if err := publish(ctx, o, p, reg); err != nil {
		return Published{}, failure.New("default builder", failure.Generic, err)
	}
	return p, nil
}

func publish(ctx context.Context, o Options, p Published, reg Registry) error {
	if o.Log == nil {
		o.Log = io.Discard
	}
	s, source, err := ensure(ctx, o)
	if err != nil {
		return err
	}
	build, err := o.Store.Image(s.BuildImageName())
	if err != nil {
		return fmt.Errorf("reading the build image: %w", err)
	}
	run, err := o.Store.Image(s.RunImageName())
	if err != nil {
		return fmt.Errorf("reading the run image: %w", err)
	}
	b, done, err := o.create(ctx, s, build, source, p.Run)
	if err != nil {
		return err
	}
	defer done()
	for _, w := range []struct {
		ref string
		img v1.Image
	}{{p.Build, build}, {p.Run, run}, {p.Builder, b}} {
		if err := reg.Push(ctx, w.ref, w.img); err != nil {
			return err
		}
		d, err := w.img.Digest()
		if err != nil {
			return err
		}
		fmt.Fprintf(o.Log, "==> published %s@%s\n", w.ref, d)
	}
	return nil
}
