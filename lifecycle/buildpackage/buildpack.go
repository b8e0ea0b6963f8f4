package buildpackage

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/BurntSushi/toml"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// Buildpack is one buildpack ready to go into an image: its descriptor,
// the layer that holds it at /cnb/buildpacks/<escaped id>/<version>/ and
// the legacy stacks its buildpack.toml declares.
type Buildpack struct {
	// Descriptor is the decoded buildpack.toml. Its Dir is set only for a
	// buildpack read from a directory.
	Descriptor *descriptor.Buildpack
	Layer      v1.Layer
	Stacks     []labels.StackEntry
	// Source names where the buildpack came from (a directory, a .cnb
	// file, an image), for messages.
	Source string
}

// ID is the buildpack id.
func (b Buildpack) ID() string { return b.Descriptor.Buildpack.ID }

// Version is the buildpack version.
func (b Buildpack) Version() string { return b.Descriptor.Buildpack.Version }

// Ref is "id@version".
func (b Buildpack) Ref() string { return b.Descriptor.Ref() }

// LayerInfo is the buildpack's entry in io.buildpacks.buildpack.layers.
func (b Buildpack) LayerInfo() (labels.BuildpackLayerInfo, error) {
	diffID, err := b.Layer.DiffID()
	if err != nil {
		return labels.BuildpackLayerInfo{}, fmt.Errorf("reading the layer diffID of %s %s: %w", b.Descriptor.Kind, b.Ref(), err)
	}
	d := b.Descriptor
	return labels.BuildpackLayerInfo{
		API:         d.API,
		Stacks:      b.Stacks,
		Targets:     LabelTargets(d.Targets),
		Order:       LabelOrder(d.Order),
		LayerDiffID: diffID.String(),
		Homepage:    d.Buildpack.Homepage,
		Name:        d.Buildpack.Name,
	}, nil
}

// LayerOptions control the layers made from buildpack directories.
type LayerOptions struct {
	// ModTime is every entry's mtime; zero means archive.DefaultModTime.
	ModTime time.Time
	// TempDir holds the layer files (default os.TempDir). They live until
	// the layer is closed or the directory removed.
	TempDir string
	// MediaType is the layers' media type (default types.OCILayer).
	MediaType types.MediaType
}

// NewLayer tars the directory of bp (bp.Dir) into one reproducible layer
// at cnb/buildpacks/<escaped id>/<version>/ (an image extension's at
// cnb/extensions/...), every entry owned by root.
func NewLayer(ctx context.Context, bp *descriptor.Buildpack, o LayerOptions) (*archive.Layer, error) {
	if bp.Dir == "" {
		return nil, fmt.Errorf("%s %s: no directory to make a layer from", bp.Kind, bp.Ref())
	}
	mt := o.ModTime
	if mt.IsZero() {
		mt = archive.DefaultModTime
	}
	t := archive.NewTar(archive.WithModTime(mt))
	prefix := path.Join(bp.Kind.Dir(), descriptor.EscapeID(bp.Buildpack.ID), bp.Buildpack.Version)
	if err := t.AddDir(ctx, bp.Dir, prefix, archive.DirOptions{}); err != nil {
		return nil, fmt.Errorf("adding %s %s from %s: %w", bp.Kind, bp.Ref(), bp.Dir, err)
	}
	lopts := []archive.LayerOption{archive.WithTempDir(o.TempDir)}
	if o.MediaType != "" {
		lopts = append(lopts, archive.WithMediaType(o.MediaType))
	}
	l, err := archive.NewLayer(ctx, t, lopts...)
	if err != nil {
		return nil, fmt.Errorf("making the layer of %s %s from %s: %w", bp.Kind, bp.Ref(), bp.Dir, err)
	}
	return l, nil
}

// FromDir reads the buildpack in dir (its buildpack.toml, checked as
// descriptor.ReadBuildpack does) and makes its layer.
func FromDir(ctx context.Context, dir string, o LayerOptions) (Buildpack, error) {
	return FromModuleDir(ctx, descriptor.KindBuildpack, dir, o)
}

// FromModuleDir is FromDir for a buildpack or an image extension, as kind
// says.
func FromModuleDir(ctx context.Context, kind descriptor.Kind, dir string, o LayerOptions) (Buildpack, error) {
	bp, err := descriptor.ReadModule(kind, dir)
	if err != nil {
		return Buildpack{}, err
	}
	return FromDescriptor(ctx, bp, o)
}

// FromDescriptor makes the layer of a buildpack (or image extension)
// already read from its directory (bp.Dir) and reads its legacy stacks.
func FromDescriptor(ctx context.Context, bp *descriptor.Buildpack, o LayerOptions) (Buildpack, error) {
	var stacks []labels.StackEntry
	if !bp.IsExtension() {
		p := filepath.Join(bp.Dir, descriptor.BuildpackFile)
		data, err := os.ReadFile(p)
		if err != nil {
			return Buildpack{}, fmt.Errorf("reading %s: %w", p, err)
		}
		if stacks, err = decodeStacks(p, data); err != nil {
			return Buildpack{}, err
		}
	}
	l, err := NewLayer(ctx, bp, o)
	if err != nil {
		return Buildpack{}, err
	}
	return Buildpack{Descriptor: bp, Layer: l, Stacks: stacks, Source: bp.Dir}, nil
}

// decodeStacks returns the legacy [[stacks]] of a buildpack.toml, which
// the descriptor translates to targets but labels still carry.
func decodeStacks(name string, data []byte) ([]labels.StackEntry, error) {
	var f struct {
		Stacks []struct {
			ID     string   `toml:"id"`
			Mixins []string `toml:"mixins"`
		} `toml:"stacks"`
	}
	if _, err := toml.Decode(string(data), &f); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", name, err)
	}
	var out []labels.StackEntry
	for _, s := range f.Stacks {
		out = append(out, labels.StackEntry{ID: s.ID, Mixins: s.Mixins})
	}
	return out, nil
}

// LabelOrder converts an order to its label shape.
func LabelOrder(o descriptor.Order) labels.Order {
	var out labels.Order
	for _, g := range o {
		var lg labels.OrderGroup
		for _, e := range g.Group {
			lg.Group = append(lg.Group, labels.BuildpackRef{ID: e.ID, Version: e.Version, Optional: e.Optional})
		}
		out = append(out, lg)
	}
	return out
}

// LabelTargets converts buildpack targets to their label shape.
func LabelTargets(ts []descriptor.Target) []labels.Target {
	var out []labels.Target
	for _, t := range ts {
		lt := labels.Target{OS: t.OS, Arch: t.Arch, Variant: t.Variant}
		for _, d := range t.Distros {
			lt.Distros = append(lt.Distros, labels.TargetDistro{Name: d.Name, Version: d.Version})
		}
		out = append(out, lt)
	}
	return out
}

// descriptorTargets converts label targets back to the descriptor shape.
func descriptorTargets(ts []labels.Target) []descriptor.Target {
	var out []descriptor.Target
	for _, t := range ts {
		dt := descriptor.Target{OS: t.OS, Arch: t.Arch, Variant: t.Variant}
		for _, d := range t.Distros {
			dt.Distros = append(dt.Distros, descriptor.Distro{Name: d.Name, Version: d.Version})
		}
		out = append(out, dt)
	}
	return out
}

// WithMediaType returns l under media type mt when both are gzip tar
// layers (Docker's and OCI's name the same bytes), so a layer fits the
// manifest it joins; other layers are returned as they are.
func WithMediaType(l v1.Layer, mt types.MediaType) v1.Layer {
	cur, err := l.MediaType()
	if err != nil || cur == mt || !gzipLayer(cur) || !gzipLayer(mt) {
		return l
	}
	return &relabeled{Layer: l, mt: mt}
}

func gzipLayer(mt types.MediaType) bool {
	return mt == types.OCILayer || mt == types.DockerLayer
}

type relabeled struct {
	v1.Layer
	mt types.MediaType
}

func (r *relabeled) MediaType() (types.MediaType, error) { return r.mt, nil }
