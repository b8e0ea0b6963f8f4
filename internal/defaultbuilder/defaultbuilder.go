package defaultbuilder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/kiln-build/kiln/internal/workdir"
	"github.com/kiln-build/kiln/lifecycle/builder"
	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/inspect"
	debianbookworm "github.com/kiln-build/kiln/stacks/debian-bookworm"
	"github.com/kiln-build/kiln/stacks/stack"
)

// Name is the local-store name of kiln's default builder.
const Name = "kiln/default-builder:latest"

// SourceLabel fingerprints what the default builder was made from (the
// stack recipes and the buildpacks); a kiln whose fingerprint differs
// makes it again.
const SourceLabel = "io.kiln.default-builder.source"

// Store is where the default builder and its stack's images live: kiln's
// local store.
type Store interface {
	Image(name string) (v1.Image, error)
	Put(ctx context.Context, name string, img v1.Image) error
}

var _ Store = (*imageio.LocalStore)(nil)

// Options say how to make the default builder.
type Options struct {
	Store Store
	// Buildpacks are kiln's first-party buildpacks (see FindBuildpacks).
	Buildpacks Buildpacks
	// Stack is the stack; nil means debian-bookworm.
	Stack *stack.Stack
	// BuildStack makes the stack's build and run images (stack.Build with
	// kiln's stack cache).
	BuildStack func(ctx context.Context, s *stack.Stack) (*stack.Images, error)
	// WorkDir holds the unpacked buildpacks and layer files meanwhile,
	// under WorkDir/default-builder.
	WorkDir string
	// Version is kiln's version, recorded as the builder's creator.
	Version string
	// Log gets progress.
	Log io.Writer
}

// Ensure returns the name of the default builder in the store, making it
// first when it is missing or was made from other buildpacks or another
// stack recipe. The stack's run image is put into the store too, as the
// builder names it.
func Ensure(ctx context.Context, o Options) (string, error) {
	if _, _, err := ensure(ctx, o); err != nil {
		return "", failure.New("default builder", failure.Generic, err)
	}
	return Name, nil
}

// ensure makes the default builder current in the store (see Ensure). It
// returns the stack and the source fingerprint the builder carries.
func ensure(ctx context.Context, o Options) (s *stack.Stack, source string, err error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if s = o.Stack; s == nil {
		if s, err = debianbookworm.Stack(); err != nil {
			return nil, "", err
		}
	}
	bpDigest, err := o.Buildpacks.digest()
	if err != nil {
		return nil, "", err
	}
	source = sourceOf(s, bpDigest)
	img, current, err := o.current(source)
	if err != nil {
		return nil, "", err
	}
	if current {
		if _, err := o.Store.Image(s.RunImageName()); err == nil {
			return s, source, nil
		}
	}
	switch {
	case img == nil:
		fmt.Fprintf(o.Log, "==> kiln's default builder %s is not in the local store yet: making it once\n", Name)
		fmt.Fprintf(o.Log, "==> (stack %s with mmdebstrap, then the buildpacks; the first time takes a few minutes)\n", s.Name)
	case !current:
		fmt.Fprintf(o.Log, "==> the default builder %s was made from other buildpacks or another stack: making it again\n", Name)
	}
	imgs, err := o.BuildStack(ctx, s)
	if err != nil {
		return nil, "", err
	}
	if err := o.putStack(ctx, s, imgs); err != nil {
		return nil, "", err
	}
	if !current {
		if err := o.make(ctx, s, imgs.Build, source); err != nil {
			return nil, "", err
		}
	}
	return s, source, nil
}

// current returns the builder in the store, if any, and whether it was
// made from source.
func (o Options) current(source string) (v1.Image, bool, error) {
	img, err := o.Store.Image(Name)
	if errors.Is(err, imageio.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, false, fmt.Errorf("reading %s in the local store (remove it with kiln rm to have it made again): %w", Name, err)
	}
	return img, cfg.Config.Labels[SourceLabel] == source, nil
}

// putStack writes the stack's two images to the store and reports their
// digests and sizes.
func (o Options) putStack(ctx context.Context, s *stack.Stack, imgs *stack.Images) error {
	for _, w := range []struct {
		kind, name string
		img        v1.Image
	}{{"build", s.BuildImageName(), imgs.Build}, {"run", s.RunImageName(), imgs.Run}} {
		if err := o.Store.Put(ctx, w.name, w.img); err != nil {
			return fmt.Errorf("writing the %s image: %w", w.kind, err)
		}
		d, err := w.img.Digest()
		if err != nil {
			return fmt.Errorf("reading the %s image: %w", w.kind, err)
		}
		size, err := compressedSize(w.img)
		if err != nil {
			return fmt.Errorf("reading the %s image: %w", w.kind, err)
		}
		fmt.Fprintf(o.Log, "%s image: %s\n  %s, %s compressed\n", w.kind, w.name, d, inspect.HumanSize(size))
	}
	return nil
}

// make makes the builder from the stack's build image and the buildpacks
// and puts it into the store.
func (o Options) make(ctx context.Context, s *stack.Stack, build v1.Image, source string) error {
	b, done, err := o.create(ctx, s, build, source, s.RunImageName())
	if err != nil {
		return err
	}
	defer done()
	if err := o.Store.Put(ctx, Name, b); err != nil {
		return fmt.Errorf("writing the default builder: %w", err)
	}
	d, err := b.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Log, "==> default builder ready: %s %s\n", Name, d)
	return nil
}

// create makes the builder from the stack's build image and the
// buildpacks, naming runName as its run image. Its layers are read from
// files that done removes, once the builder is written. They lie in a
// locked work dir (package workdir) under WorkDir/default-builder, so the
// next make removes what a killed one left there.
func (o Options) create(ctx context.Context, s *stack.Stack, build v1.Image, source, runName string) (img v1.Image, done func(), err error) {
	work, release, err := workdir.Create(filepath.Join(o.WorkDir, "default-builder"))
	if err != nil {
		return nil, nil, err
	}
	bps, err := o.Buildpacks.open(ctx, work)
	if err != nil {
		release()
		return nil, nil, err
	}
	done = func() {
		bps.Close()
		release()
	}
	fmt.Fprintf(o.Log, "==> adding %d buildpacks: %s\n", len(bps.list), strings.Join(bps.refs(), ", "))
	tmp := filepath.Join(work, "builder")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		done()
		return nil, nil, fmt.Errorf("creating a work directory: %w", err)
	}
	if img, err = o.build(ctx, s, build, bps, tmp, source, runName); err != nil {
		done()
		return nil, nil, err
	}
	return img, done, nil
}

func (o Options) build(ctx context.Context, s *stack.Stack, build v1.Image, bps *buildpackSet, tmp, source, runName string) (v1.Image, error) {
	b, err := builder.Create(ctx, build, builder.CreateOptions{
		Buildpacks:  bps.list,
		Order:       bps.order,
		Run:         builder.RunImages{Images: []builder.RunImage{{Image: runName}}},
		Description: "kiln's default builder: the " + s.Name + " stack and kiln's buildpacks",
		Version:     o.Version,
		TempDir:     tmp,
	})
	if err != nil {
		return nil, fmt.Errorf("creating the default builder: %w", err)
	}
	return withLabel(b, SourceLabel, source)
}

// sourceOf fingerprints the stack recipes and the buildpacks.
func sourceOf(s *stack.Stack, buildpacksDigest string) string {
	build, run := s.Recipes()
	h := sha256.New()
	fmt.Fprintf(h, "kiln-default-builder/1\n%s\n%s\n%s\n", build.Key(), run.Key(), buildpacksDigest)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func withLabel(img v1.Image, key, value string) (v1.Image, error) {
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading builder config: %w", err)
	}
	cfg = cfg.DeepCopy()
	if cfg.Config.Labels == nil {
		cfg.Config.Labels = map[string]string{}
	}
	cfg.Config.Labels[key] = value
	out, err := mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("setting label %s: %w", key, err)
	}
	return out, nil
}

// compressedSize is the sum of an image's compressed layer sizes.
func compressedSize(img v1.Image) (int64, error) {
	layers, err := img.Layers()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, l := range layers {
		s, err := l.Size()
		if err != nil {
			return 0, err
		}
		n += s
	}
	return n, nil
}
