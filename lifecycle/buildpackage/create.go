package buildpackage

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// Options control the buildpackage image.
type Options struct {
	// ModTime is the image's created time and every history entry's;
	// zero means archive.DefaultModTime.
	ModTime time.Time
	// Arch and Variant are the image's platform (its OS is linux). An
	// empty Arch is the one architecture the entrypoint's targets name,
	// else this machine's.
	Arch, Variant string
}

// Create returns the buildpackage image of entry: an OCI image with one
// layer per buildpack of bps (entry among them), sorted by id and
// version, and the labels io.buildpacks.buildpackage.metadata and
// io.buildpacks.buildpack.layers (io.buildpacks.extension.layers for an
// image extension, packaged alone as pack packages one). Every buildpack the order of a
// composite buildpack names must be in bps. The same inputs give the same
// digest.
func Create(ctx context.Context, entry Buildpack, bps []Buildpack, o Options) (v1.Image, error) {
	var set Set
	for _, b := range bps {
		if !set.Add(b) {
			return nil, inputErrorf("buildpack %s is given twice", b.Ref())
		}
	}
	if _, err := set.Lookup(entry.ID(), entry.Version()); err != nil {
		return nil, fmt.Errorf("entrypoint buildpack %s is not among the buildpacks to package", entry.Ref())
	}
	if err := set.CheckComposites("the buildpackage"); err != nil {
		return nil, err
	}
	mt := o.ModTime
	if mt.IsZero() {
		mt = archive.DefaultModTime
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	layersLabel := labels.BuildpackLayersLabel{}
	for _, b := range set.All() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		add := mutate.Addendum{
			// a Docker gzip layer is the same bytes named as an OCI manifest expects
			Layer:   WithMediaType(b.Layer, types.OCILayer),
			History: v1.History{Created: v1.Time{Time: mt}, CreatedBy: "kiln: buildpack " + b.Ref()},
		}
		var err error
		if img, err = mutate.Append(img, add); err != nil {
			return nil, fmt.Errorf("adding the layer of buildpack %s: %w", b.Ref(), err)
		}
		info, err := b.LayerInfo()
		if err != nil {
			return nil, err
		}
		if layersLabel[b.ID()] == nil {
			layersLabel[b.ID()] = map[string]labels.BuildpackLayerInfo{}
		}
		layersLabel[b.ID()][b.Version()] = info
	}
	md := labels.Buildpackage{
		ID:       entry.ID(),
		Version:  entry.Version(),
		Homepage: entry.Descriptor.Buildpack.Homepage,
		Stacks:   packageStacks(entry, &set),
		Targets:  LabelTargets(entry.Descriptor.Targets),
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the buildpackage config: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS = "linux"
	cfg.Architecture, cfg.Variant = o.Arch, o.Variant
	if cfg.Architecture == "" {
		cfg.Architecture, cfg.Variant = entryArch(entry)
	}
	cfg.Created = v1.Time{Time: mt}
	if cfg.Config.Labels == nil {
		cfg.Config.Labels = map[string]string{}
	}
	for k, v := range map[string]any{labels.BuildpackageMeta: md, LayersLabel(entry.Descriptor.Kind): layersLabel} {
		s, err := labels.Encode(v)
		if err != nil {
			return nil, fmt.Errorf("encoding label %s: %w", k, err)
		}
		cfg.Config.Labels[k] = s
	}
	return mutate.ConfigFile(img, cfg)
}

// entryArch is the single architecture (and variant) the entrypoint's
// targets name, else this machine's.
func entryArch(entry Buildpack) (string, string) {
	arch, variant := "", ""
	for _, t := range entry.Descriptor.Targets {
		if t.Arch == "" || t.Arch == "*" || (arch != "" && t.Arch != arch) {
			return runtime.GOARCH, ""
		}
		arch = t.Arch
		if variant != "" && t.Variant != variant {
			variant = ""
		} else {
			variant = t.Variant
		}
	}
	if arch == "" {
		return runtime.GOARCH, ""
	}
	return arch, variant
}

// packageStacks are the legacy stacks of the package: the entrypoint's
// own for a component buildpack; for a composite one, the stacks every
// component buildpack in the package declares, with the mixins any of
// them needs.
func packageStacks(entry Buildpack, set *Set) []labels.StackEntry {
	if !entry.Descriptor.IsComposite() {
		return entry.Stacks
	}
	var common map[string]map[string]bool
	for _, b := range set.All() {
		if b.Descriptor.IsComposite() {
			continue
		}
		mine := map[string]map[string]bool{}
		for _, s := range b.Stacks {
			if mine[s.ID] == nil {
				mine[s.ID] = map[string]bool{}
			}
			for _, m := range s.Mixins {
				mine[s.ID][m] = true
			}
		}
		if common == nil {
			common = mine
			continue
		}
		for id, mixins := range common {
			other, ok := mine[id]
			if !ok {
				delete(common, id)
				continue
			}
			for m := range other {
				mixins[m] = true
			}
		}
	}
	var out []labels.StackEntry
	for id, mixins := range common {
		s := labels.StackEntry{ID: id}
		for m := range mixins {
			s.Mixins = append(s.Mixins, m)
		}
		sort.Strings(s.Mixins)
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// FromConfig resolves the buildpacks cfg names (its [buildpack] and every
// [[dependencies]] entry, relative to cfg.Path's directory) and returns
// their buildpackage image (see Create). Platform settings of cfg fill in
// what o leaves empty.
func FromConfig(ctx context.Context, cfg *Config, r *Resolver, o Options) (v1.Image, error) {
	base := filepath.Dir(cfg.Path)
	src, err := r.Resolve(ctx, cfg.Buildpack.URI, base)
	if err != nil {
		return nil, WrapInput(err, "%s: [buildpack]: ", cfg.Path)
	}
	var set Set
	for _, b := range src.Buildpacks {
		set.Add(b)
	}
	for i, d := range cfg.Dependencies {
		dep, err := r.Resolve(ctx, d.Ref(), base)
		if err != nil {
			return nil, WrapInput(err, "%s: [[dependencies]] #%d: ", cfg.Path, i+1)
		}
		for _, b := range dep.Buildpacks {
			set.Add(b)
		}
	}
	if err := set.CheckComposites("the buildpackage"); err != nil {
		return nil, WrapInput(err, "%s: ", cfg.Path)
	}
	if o.Arch == "" && len(cfg.Targets) == 1 && cfg.Targets[0].Arch != "" {
		o.Arch, o.Variant = cfg.Targets[0].Arch, cfg.Targets[0].Variant
	}
	if o.Arch != "" {
		if err := checkTarget(cfg, src.Entry, o.Arch, o.Variant); err != nil {
			return nil, err
		}
	}
	return Create(ctx, src.Entry, set.All(), o)
}
