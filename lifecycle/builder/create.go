package builder

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/BurntSushi/toml"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/internal/export"
	"github.com/kiln-build/kiln/lifecycle/buildpackage"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// Supported API versions, recorded in the builder label so tools that
// check compatibility (pack) accept kiln's builders.
var (
	SupportedBuildpackAPIs = []string{"0.7", "0.8", "0.9", "0.10", "0.11", "0.12"}
	SupportedPlatformAPIs  = []string{"0.12", "0.13", "0.14", "0.15"}
)

// CreateOptions describe a builder to make from a build image.
type CreateOptions struct {
	// Buildpacks are buildpack directories (each holding buildpack.toml),
	// composite buildpacks included.
	Buildpacks []*descriptor.Buildpack
	// Packaged are buildpacks that come with their layer (from a
	// buildpackage); each layer is added as it is, keeping its diffID.
	Packaged []buildpackage.Buildpack
	Order    descriptor.Order
	Run      RunImages
	// BuildEnv goes to /cnb/build-config/env, seen by every buildpack.
	BuildEnv []ConfigEnv
	// System are the system buildpacks (system.toml); each must be among
	// the builder's buildpacks.
	System System
	// Extensions are the image extensions, with their layers (as from
	// buildpackage.Resolver with Kind extension), put at
	// /cnb/extensions/<escaped id>/<version>/; OrderExtensions, the
	// order.toml's [[order-extensions]], must name only them.
	Extensions      []buildpackage.Buildpack
	OrderExtensions descriptor.Order
	// Description goes into the builder label.
	Description string
	// Version is the kiln version recorded as creator.
	Version string
	// ModTime is every file's mtime; zero means archive.DefaultModTime.
	ModTime time.Time
	// TempDir holds layer files while the image is written.
	TempDir string
}

// Create returns a builder image made of base, one layer per buildpack
// (sorted by id and version) and one layer with order.toml, run.toml and
// stack.toml. Every order entry, and every entry of a composite
// buildpack's order, must name a buildpack among opts.Buildpacks and
// opts.Packaged.
func Create(ctx context.Context, base v1.Image, opts CreateOptions) (v1.Image, error) {
	mt := opts.ModTime
	if mt.IsZero() {
		mt = archive.DefaultModTime
	}
	cfg, err := base.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading build image config: %w", err)
	}
	if _, _, err := cnbUser(cfg); err != nil {
		return nil, fmt.Errorf("build image: %w", err)
	}
	// New layers match the build image's manifest type.
	layerType, err := export.LayerMediaType(base)
	if err != nil {
		return nil, err
	}
	type pending struct {
		bp     *descriptor.Buildpack
		ready  *buildpackage.Buildpack
		source string
	}
	var all []pending
	for _, bp := range opts.Buildpacks {
		all = append(all, pending{bp: bp, source: bp.Dir})
	}
	for i := range opts.Packaged {
		p := &opts.Packaged[i]
		all = append(all, pending{bp: p.Descriptor, ready: p, source: p.Source})
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].bp.Ref() < all[j].bp.Ref() })
	have := map[string]*pending{}
	for i := range all {
		p := &all[i]
		if prev, ok := have[p.bp.Ref()]; ok {
			return nil, fmt.Errorf("buildpack %s is given twice (%s and %s)", p.bp.Ref(), prev.source, p.source)
		}
		have[p.bp.Ref()] = p
		have[p.bp.Buildpack.ID+"@"] = p
	}
	known := func(ref string) bool { return have[ref] != nil }
	if err := checkOrder(opts.Order, known, "order"); err != nil {
		return nil, err
	}
	for _, p := range all {
		if err := checkOrder(p.bp.Order, known, p.bp.Ref()); err != nil {
			return nil, err
		}
	}
	if err := checkOrder(descriptor.Order{opts.System.Pre, opts.System.Post}, known, "system buildpacks"); err != nil {
		return nil, err
	}
	systemTOML, err := encodeSystem(opts.System)
	if err != nil {
		return nil, err
	}
	exts, err := checkExtensions(opts.Extensions, opts.OrderExtensions)
	if err != nil {
		return nil, err
	}

	img := base
	layersLabel := labels.BuildpackLayersLabel{}
	var bpRefs []labels.BuildpackRef
	for _, p := range all {
		var b buildpackage.Buildpack
		if p.ready != nil {
			b = *p.ready
		} else if b, err = buildpackage.FromDescriptor(ctx, p.bp, buildpackage.LayerOptions{ModTime: mt, TempDir: opts.TempDir, MediaType: layerType}); err != nil {
			return nil, err
		}
		info, err := b.LayerInfo()
		if err != nil {
			return nil, err
		}
		if img, err = appendLayer(img, buildpackage.WithMediaType(b.Layer, layerType), mt, "buildpack "+b.Ref()); err != nil {
			return nil, err
		}
		if layersLabel[b.ID()] == nil {
			layersLabel[b.ID()] = map[string]labels.BuildpackLayerInfo{}
		}
		layersLabel[b.ID()][b.Version()] = info
		bpRefs = append(bpRefs, labels.BuildpackRef{ID: b.ID(), Version: b.Version(), Homepage: b.Descriptor.Buildpack.Homepage})
	}
	img, extLabels, err := addExtensions(img, exts, layerType, mt)
	if err != nil {
		return nil, err
	}

	// The platform files.
	var orderBuf, runBuf, stackBuf bytes.Buffer
	if err := toml.NewEncoder(&orderBuf).Encode(struct {
		Order      descriptor.Order `toml:"order"`
		Extensions descriptor.Order `toml:"order-extensions,omitempty"`
	}{opts.Order, opts.OrderExtensions}); err != nil {
		return nil, fmt.Errorf("encoding order.toml: %w", err)
	}
	if err := toml.NewEncoder(&runBuf).Encode(opts.Run); err != nil {
		return nil, fmt.Errorf("encoding run.toml: %w", err)
	}
	var stackRun labels.ImageRef
	if len(opts.Run.Images) > 0 {
		stackRun = labels.ImageRef{Image: opts.Run.Images[0].Image, Mirrors: opts.Run.Images[0].Mirrors}
		if err := toml.NewEncoder(&stackBuf).Encode(stackTOML{RunImage: opts.Run.Images[0]}); err != nil {
			return nil, fmt.Errorf("encoding stack.toml: %w", err)
		}
	}
	t := archive.NewTar(archive.WithModTime(mt))
	for _, e := range []archive.Entry{
		archive.Dir("cnb", 0o755, archive.Owner{}),
		archive.Dir("cnb/buildpacks", 0o755, archive.Owner{}),
		archive.File("cnb/order.toml", 0o644, archive.Owner{}, orderBuf.Bytes()),
		archive.File("cnb/run.toml", 0o644, archive.Owner{}, runBuf.Bytes()),
		archive.File("cnb/stack.toml", 0o644, archive.Owner{}, stackBuf.Bytes()),
	} {
		if err := t.Add(e); err != nil {
			return nil, err
		}
	}
	extra := buildEnvEntries(opts.BuildEnv)
	if len(exts) > 0 {
		extra = append(extra, archive.Dir("cnb/extensions", 0o755, archive.Owner{}))
	}
	if systemTOML != nil {
		extra = append(extra, archive.File(SystemFile, 0o644, archive.Owner{}, systemTOML))
	}
	for _, e := range extra {
		if err := t.Add(e); err != nil {
			return nil, err
		}
	}
	l, err := archive.NewLayer(ctx, t, archive.WithTempDir(opts.TempDir), archive.WithMediaType(layerType))
	if err != nil {
		return nil, fmt.Errorf("writing builder config layer: %w", err)
	}
	if img, err = appendLayer(img, l, mt, "builder config"); err != nil {
		return nil, err
	}

	md := labels.Builder{
		Description: opts.Description,
		Stack:       labels.BuilderStack{RunImage: stackRun},
		Images:      opts.Run.labelRefs(),
		Buildpacks:  bpRefs,
		Extensions:  extLabels.refs,
		CreatedBy:   labels.CreatedBy{Name: "kiln", Version: opts.Version},
	}
	md.Lifecycle.Version = "kiln-" + opts.Version
	md.Lifecycle.APIs.Buildpack = labels.APISet{Deprecated: []string{}, Supported: SupportedBuildpackAPIs}
	md.Lifecycle.APIs.Platform = labels.APISet{Deprecated: []string{}, Supported: SupportedPlatformAPIs}
	newLabels := map[string]any{
		labels.BuilderMetadata: md,
		labels.BuildpackOrder:  buildpackage.LabelOrder(opts.Order),
		labels.BuildpackLayers: layersLabel,
	}
	if len(exts) > 0 {
		newLabels[labels.ExtensionLayers] = extLabels.layers
		newLabels[labels.BuildpackOrderExtensions] = buildpackage.LabelOrder(opts.OrderExtensions)
	}
	cfg, err = img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	if cfg.Config.Labels == nil {
		cfg.Config.Labels = map[string]string{}
	}
	for k, v := range newLabels {
		s, err := labels.Encode(v)
		if err != nil {
			return nil, fmt.Errorf("encoding label %s: %w", k, err)
		}
		cfg.Config.Labels[k] = s
	}
	cfg.Created = v1.Time{Time: mt}
	return mutate.ConfigFile(img, cfg)
}

func appendLayer(img v1.Image, l v1.Layer, mt time.Time, what string) (v1.Image, error) {
	out, err := mutate.Append(img, mutate.Addendum{
		Layer:   l,
		History: v1.History{Created: v1.Time{Time: mt}, CreatedBy: "kiln: " + what},
	})
	if err != nil {
		return nil, fmt.Errorf("adding %s layer: %w", what, err)
	}
	return out, nil
}

func checkOrder(o descriptor.Order, known func(ref string) bool, where string) error {
	for gi, g := range o {
		for _, e := range g.Group {
			if !known(e.ID + "@" + e.Version) {
				return fmt.Errorf("%s: group %d names buildpack %s, which the builder lacks", where, gi+1, e.Ref())
			}
		}
	}
	return nil
}
