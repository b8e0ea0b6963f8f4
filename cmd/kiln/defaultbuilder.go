package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/buildpacks"
	"github.com/kiln-build/kiln/lifecycle/archive"
	"github.com/kiln-build/kiln/lifecycle/builder"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	debianbookworm "github.com/kiln-build/kiln/stacks/debian-bookworm"
	"github.com/kiln-build/kiln/stacks/stack"
)

// defaultBuilderName is the local-store name of kiln's default builder.
const defaultBuilderName = "kiln/default-builder:latest"

// labelDefaultBuilderSource fingerprints what the default builder was made
// from (the stack recipe and the buildpacks); a kiln whose fingerprint
// differs makes it again.
const labelDefaultBuilderSource = "io.kiln.default-builder.source"

// withDefaultBuilder makes cmd (kiln build) fall back to the default
// builder when neither --builder nor KILN_BUILDER names one: the builder
// is made in the local store the first time and reused afterwards.
func withDefaultBuilder(cmd *cli.Command) *cli.Command {
	action := cmd.Action
	cmd.Action = func(c *cli.Context) error {
		// Bad arguments are reported by the command itself, before any
		// builder is made.
		if c.String("builder") == "" && c.NArg() == 1 {
			iio, cache, err := setup()
			if err != nil {
				return err
			}
			ref, err := ensureDefaultBuilder(c.Context, iio, cache, c.App.ErrWriter)
			if err != nil {
				return err
			}
			if err := c.Set("builder", ref); err != nil {
				return fmt.Errorf("using the default builder: %w", err)
			}
		}
		return action(c)
	}
	return cmd
}

// withDefaultBuilderCommand adds `kiln builder default` to cmd (kiln
// builder): it makes the default builder now, as kiln build would on first
// use, and prints its name.
func withDefaultBuilderCommand(cmd *cli.Command) *cli.Command {
	cmd.Subcommands = append(cmd.Subcommands, &cli.Command{
		Name:  "default",
		Usage: "make kiln's default builder in the local store, unless it is there and current, and print its name",
		Description: "kiln build uses " + defaultBuilderName + " when no --builder is given: the\n" +
			debianbookworm.Name + " stack (built with mmdebstrap, cached by recipe) and kiln's buildpacks.",
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usageError("builder default: takes no arguments")
			}
			iio, cache, err := setup()
			if err != nil {
				return err
			}
			ref, err := ensureDefaultBuilder(c.Context, iio, cache, c.App.ErrWriter)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, ref)
			return nil
		},
	})
	return cmd
}

// ensureDefaultBuilder returns the name of the default builder in the local
// store, making it first when it is missing or was made from other
// buildpacks or another stack recipe. The stack's run image is put into the
// store too, as the builder names it.
func ensureDefaultBuilder(ctx context.Context, iio *imageio.IO, cache string, log io.Writer) (string, error) {
	s, err := debianbookworm.Stack()
	if err != nil {
		return "", failure.New("default builder", failure.Generic, err)
	}
	src, err := findBuildpacks()
	if err != nil {
		return "", failure.New("default builder", failure.Generic, err)
	}
	bpDigest, err := src.digest()
	if err != nil {
		return "", failure.New("default builder", failure.Generic, err)
	}
	source := defaultBuilderSource(s, bpDigest)

	store := iio.Store()
	img, err := store.Image(defaultBuilderName)
	current := false
	if err == nil {
		cfg, cerr := img.ConfigFile()
		current = cerr == nil && cfg.Config.Labels[labelDefaultBuilderSource] == source
	} else if !errors.Is(err, imageio.ErrNotFound) {
		return "", failure.New("default builder", failure.Generic, err)
	}
	_, runErr := store.Image(s.RunImageName())
	if current && runErr == nil {
		return defaultBuilderName, nil
	}

	if img == nil {
		fmt.Fprintf(log, "==> kiln's default builder %s is not in the local store yet: making it once\n", defaultBuilderName)
		fmt.Fprintf(log, "==> (stack %s with mmdebstrap, then the buildpacks; the first time takes a few minutes)\n", s.Name)
	} else if !current {
		fmt.Fprintf(log, "==> the default builder %s was made from other buildpacks or another stack: making it again\n", defaultBuilderName)
	}
	imgs, err := buildStack(ctx, s, cache, false, log)
	if err != nil {
		return "", err
	}
	for _, w := range []struct {
		kind, name string
		img        v1.Image
	}{{"build", s.BuildImageName(), imgs.Build}, {"run", s.RunImageName(), imgs.Run}} {
		if err := writeStackImage(ctx, iio, log, w.kind, imageio.Location{Kind: imageio.Store, Name: w.name}, w.img); err != nil {
			return "", err
		}
	}
	if current {
		return defaultBuilderName, nil
	}

	work := filepath.Join(cache, "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return "", failure.New("default builder", failure.Generic, fmt.Errorf("creating a work directory: %w", err))
	}
	bps, err := src.open(ctx, work)
	if err != nil {
		return "", failure.New("default builder", failure.Generic, err)
	}
	defer bps.Close()
	fmt.Fprintf(log, "==> adding %d buildpacks: %s\n", len(bps.list), strings.Join(bps.refs(), ", "))
	tmp, err := os.MkdirTemp(work, "default-builder-")
	if err != nil {
		return "", failure.New("default builder", failure.Generic, fmt.Errorf("creating a work directory: %w", err))
	}
	defer os.RemoveAll(tmp)
	b, err := builder.Create(ctx, imgs.Build, builder.CreateOptions{
		Buildpacks:  bps.list,
		Order:       bps.order,
		Run:         builder.RunImages{Images: []builder.RunImage{{Image: s.RunImageName()}}},
		Description: "kiln's default builder: the " + s.Name + " stack and kiln's buildpacks",
		Version:     version,
		TempDir:     tmp,
	})
	if err != nil {
		return "", failure.New("default builder", failure.Generic, fmt.Errorf("creating the default builder: %w", err))
	}
	if b, err = withLabel(b, labelDefaultBuilderSource, source); err != nil {
		return "", failure.New("default builder", failure.Generic, err)
	}
	if err := store.Put(ctx, defaultBuilderName, b); err != nil {
		return "", failure.New("default builder", failure.Generic, fmt.Errorf("writing the default builder: %w", err))
	}
	d, err := b.Digest()
	if err != nil {
		return "", failure.New("default builder", failure.Generic, err)
	}
	fmt.Fprintf(log, "==> default builder ready: %s %s\n", defaultBuilderName, d)
	return defaultBuilderName, nil
}

// defaultBuilderSource fingerprints the stack recipes and the buildpacks.
func defaultBuilderSource(s *stack.Stack, buildpacksDigest string) string {
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

// buildpackSource is where kiln's first-party buildpacks come from: a
// directory, or the gzip-compressed tar embedded by `make build`.
type buildpackSource struct {
	dir   string
	tarGz []byte
}

// findBuildpacks finds kiln's first-party buildpacks: the directory
// $KILN_BUILDPACKS, else the tree embedded by `make build`, else a
// "buildpacks" directory beside the kiln binary. A tree holds buildpack
// directories (each with buildpack.toml, at any depth) and may hold an
// order.toml at its top; without one, the order is kiln's default order
// (see defaultOrder).
func findBuildpacks() (buildpackSource, error) {
	if d := os.Getenv("KILN_BUILDPACKS"); d != "" {
		return buildpackSource{dir: d}, nil
	}
	if len(buildpacksTarGz) > 0 {
		return buildpackSource{tarGz: buildpacksTarGz}, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return buildpackSource{}, fmt.Errorf("finding kiln's buildpacks: %w", err)
	}
	dir := filepath.Join(filepath.Dir(exe), "buildpacks")
	if _, err := os.Stat(dir); err != nil {
		return buildpackSource{}, fmt.Errorf("this kiln has no embedded buildpacks and none at %s (build kiln with `make build`, or set KILN_BUILDPACKS to a directory of buildpacks): %w", dir, err)
	}
	return buildpackSource{dir: dir}, nil
}

// digest fingerprints the buildpacks without unpacking them: the embedded
// archive's bytes, or every name, mode, link target and file of the tree.
func (src buildpackSource) digest() (string, error) {
	h := sha256.New()
	if src.dir == "" {
		h.Write(src.tarGz)
		return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
	}
	err := filepath.WalkDir(src.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src.dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%q %o\n", filepath.ToSlash(rel), info.Mode())
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "-> %q\n", target)
		case d.Type().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(h, f)
			f.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("reading kiln's buildpacks in %s: %w", src.dir, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// open reads the buildpacks and their order, unpacking an embedded tree
// under workDir first.
func (src buildpackSource) open(ctx context.Context, workDir string) (*buildpackSet, error) {
	set := &buildpackSet{}
	dir := src.dir
	if dir == "" {
		if err := os.MkdirAll(workDir, 0o755); err != nil {
			return nil, fmt.Errorf("creating %s: %w", workDir, err)
		}
		tmp, err := os.MkdirTemp(workDir, "buildpacks-")
		if err != nil {
			return nil, fmt.Errorf("unpacking kiln's buildpacks: %w", err)
		}
		set.tmp, dir = tmp, tmp
		zr, err := gzip.NewReader(bytes.NewReader(src.tarGz))
		if err != nil {
			set.Close()
			return nil, fmt.Errorf("unpacking kiln's embedded buildpacks: %w", err)
		}
		if err := archive.Extract(ctx, zr, tmp, archive.ExtractOptions{}); err != nil {
			set.Close()
			return nil, fmt.Errorf("unpacking kiln's embedded buildpacks: %w", err)
		}
	}
	if err := set.load(dir); err != nil {
		set.Close()
		return nil, err
	}
	return set, nil
}

// buildpackSet is the first-party buildpacks in a directory.
type buildpackSet struct {
	list  []*descriptor.Buildpack
	order descriptor.Order
	tmp   string // removed by Close, when the tree was unpacked
}

func (b *buildpackSet) Close() {
	if b.tmp != "" {
		os.RemoveAll(b.tmp)
	}
}

func (b *buildpackSet) refs() []string {
	out := make([]string, len(b.list))
	for i, bp := range b.list {
		out[i] = bp.Ref()
	}
	return out
}

// load reads the buildpacks and the order under dir.
func (b *buildpackSet) load(dir string) error {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() || p == dir {
			return nil
		}
		if _, err := os.Stat(filepath.Join(p, descriptor.BuildpackFile)); err != nil {
			return nil
		}
		bp, err := descriptor.ReadBuildpack(p)
		if err != nil {
			return err
		}
		b.list = append(b.list, bp)
		return filepath.SkipDir
	})
	if err != nil {
		return fmt.Errorf("reading kiln's buildpacks in %s: %w", dir, err)
	}
	if len(b.list) == 0 {
		return fmt.Errorf("reading kiln's buildpacks in %s: no buildpack.toml found", dir)
	}
	slices.SortFunc(b.list, func(x, y *descriptor.Buildpack) int { return strings.Compare(x.Buildpack.ID, y.Buildpack.ID) })
	orderPath := filepath.Join(dir, descriptor.OrderFile)
	if _, err := os.Stat(orderPath); err == nil {
		if b.order, err = descriptor.ReadOrder(orderPath); err != nil {
			return err
		}
	} else {
		b.order = defaultOrder(b.list)
	}
	if len(b.order) == 0 {
		return fmt.Errorf("reading kiln's buildpacks in %s: no group of the default order can be made from %s", dir, strings.Join(b.refs(), ", "))
	}
	return b.fillVersions(orderPath)
}

// fillVersions gives every order entry without a version the version of
// the buildpack with that id.
func (b *buildpackSet) fillVersions(orderPath string) error {
	for gi, g := range b.order {
		for ei, e := range g.Group {
			if e.Version != "" {
				continue
			}
			i := slices.IndexFunc(b.list, func(bp *descriptor.Buildpack) bool { return bp.Buildpack.ID == e.ID })
			if i < 0 {
				return fmt.Errorf("%s: [[order]] #%d names buildpack %s, which is not among kiln's buildpacks", orderPath, gi+1, e.ID)
			}
			b.order[gi].Group[ei].Version = b.list[i].Buildpack.Version
		}
	}
	return nil
}

// defaultOrder is kiln's default order (buildpacks.DefaultOrder) kept to
// the buildpacks at hand: a group missing a required buildpack is left
// out, as is a missing optional one.
func defaultOrder(bps []*descriptor.Buildpack) descriptor.Order {
	have := map[string]string{}
	for _, bp := range bps {
		have[bp.Buildpack.ID] = bp.Buildpack.Version
	}
	var order descriptor.Order
groups:
	for _, g := range buildpacks.DefaultOrder() {
		var dg descriptor.Group
		for _, e := range g {
			v, ok := have[e.ID]
			switch {
			case !ok && e.Optional:
				continue
			case !ok:
				continue groups
			}
			dg.Group = append(dg.Group, descriptor.GroupEntry{ID: e.ID, Version: v, Optional: e.Optional})
		}
		order = append(order, dg)
	}
	return order
}
