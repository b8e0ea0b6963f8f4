package builder

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/lifecycle/buildpackage"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// ConfigOptions control CreateFromConfig.
type ConfigOptions struct {
	// Images opens the build image and buildpackage images.
	Images buildpackage.ImageSource
	// Version is the kiln version recorded as creator.
	Version string
	// ModTime is every new file's mtime and the image's created time;
	// zero means archive.DefaultModTime.
	ModTime time.Time
	// TempDir holds layer files; they must outlive the returned image's
	// last use.
	TempDir string
	// Log is told about buildpacks given more than once (nil: discard).
	Log io.Writer
	// Platform, when set, is the platform the builder is for: Images
	// must open the build image (an index) for it, [[targets]] must list
	// it and every buildpack must declare a target for it.
	Platform *v1.Platform
}

// CreateFromConfig makes the builder cfg describes: it resolves every
// [[buildpacks]] entry (buildpackages bring all their buildpacks, each
// keeping its layer), fills in order versions left out, checks that every
// order entry and every composite buildpack's member is present, opens
// the build image and calls Create. Every problem with cfg or what it
// names is reported, naming the file and the entry, before any image is
// made; such errors are *buildpackage.InputError.
func CreateFromConfig(ctx context.Context, cfg *Config, o ConfigOptions) (v1.Image, error) {
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	layers := buildpackage.LayerOptions{ModTime: o.ModTime, TempDir: o.TempDir}
	set, err := resolveModules(ctx, cfg, descriptor.KindBuildpack, cfg.Buildpacks, o.Images, layers, log)
	if err != nil {
		return nil, err
	}
	exts, err := resolveModules(ctx, cfg, descriptor.KindExtension, cfg.Extensions, o.Images, layers, log)
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(log, "warning: %s\n", w)
	}
	order, err := resolveOrder(cfg, "order", cfg.DescriptorOrder(), set)
	if err != nil {
		return nil, err
	}
	orderExt, err := resolveOrder(cfg, "order-extensions", cfg.DescriptorOrderExtensions(), exts)
	if err != nil {
		return nil, err
	}
	system, err := resolveSystem(cfg, set)
	if err != nil {
		return nil, err
	}
	if err := set.CheckComposites("the builder"); err != nil {
		return nil, buildpackage.WrapInput(err, "%s: ", cfg.Path)
	}
	if o.Images == nil {
		return nil, fmt.Errorf("%s: no way to open the build image %s", cfg.Path, cfg.BuildImage())
	}
	buildImg, err := o.Images.Image(ctx, cfg.BuildImage())
	if err != nil {
		return nil, fmt.Errorf("%s: opening build image %s: %w", cfg.Path, cfg.BuildImage(), err)
	}
	bcfg, err := buildImg.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("%s: reading build image %s: %w", cfg.Path, cfg.BuildImage(), err)
	}
	if _, _, err := cnbUser(bcfg); err != nil {
		return nil, bad("%s: build image %s is not a CNB build image: its env must set CNB_USER_ID and CNB_GROUP_ID to numeric ids", cfg.Path, cfg.BuildImage())
	}
	if o.Platform != nil {
		if bcfg.OS != o.Platform.OS || bcfg.Architecture != o.Platform.Architecture {
			return nil, bad("%s: build image %s is %s/%s, not %s/%s", cfg.Path, cfg.BuildImage(), bcfg.OS, bcfg.Architecture, o.Platform.OS, o.Platform.Architecture)
		}
		if err := checkPlatform(cfg, *o.Platform, append(set.All(), exts.All()...)); err != nil {
			return nil, err
		}
	} else if err := checkTargets(cfg, bcfg, log); err != nil {
		return nil, err
	}
	if want := cfg.Stack.ID; want != "" {
		if got := bcfg.Config.Labels[labels.StackID]; got != "" && got != want {
			return nil, bad("%s: [stack] id is %q, but build image %s has %s=%q", cfg.Path, want, cfg.BuildImage(), labels.StackID, got)
		}
	}
	img, err := Create(ctx, buildImg, CreateOptions{
		Packaged:        set.All(),
		Order:           order,
		Extensions:      exts.All(),
		OrderExtensions: orderExt,
		Run:             cfg.RunImages(),
		BuildEnv:        cfg.Build.Env,
		System:          system,
		Description:     cfg.Description,
		Version:         o.Version,
		ModTime:         o.ModTime,
		TempDir:         o.TempDir,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Path, err)
	}
	return img, nil
}

// sameLayer reports whether two buildpacks come as the same layer.
func sameLayer(a, b buildpackage.Buildpack) bool {
	da, errA := a.Layer.DiffID()
	db, errB := b.Layer.DiffID()
	return errA == nil && errB == nil && da == db
}

// checkDeclared checks that the id and version a [[buildpacks]] entry
// declares name a buildpack its uri brings.
func checkDeclared(e ConfigBuildpack, src *buildpackage.Source) error {
	if e.ID == "" && e.Version == "" {
		return nil
	}
	if e.ID == "" {
		return fmt.Errorf("version %q without id", e.Version)
	}
	for _, b := range src.Buildpacks {
		if b.ID() == e.ID && (e.Version == "" || b.Version() == e.Version) {
			return nil
		}
	}
	want := e.ID
	if e.Version != "" {
		want += "@" + e.Version
	}
	return fmt.Errorf("uri %q brings %s, not %s", e.Ref(), src.Entry.Ref(), want)
}

// resolveModules resolves the [[buildpacks]] (or [[extensions]])
// entries of cfg: buildpackages bring all their buildpacks, each keeping
// its layer; one given twice is kept once, with a note when the two
// differ.
func resolveModules(ctx context.Context, cfg *Config, kind descriptor.Kind, entries []ConfigBuildpack, images buildpackage.ImageSource, layers buildpackage.LayerOptions, log io.Writer) (*buildpackage.Set, error) {
	r := &buildpackage.Resolver{Images: images, Layers: layers, Kind: kind}
	set := &buildpackage.Set{}
	for i, e := range entries {
		src, err := r.Resolve(ctx, e.Ref(), filepath.Dir(cfg.Path))
		if err != nil {
			return nil, buildpackage.WrapInput(err, "%s: [[%ss]] #%d: ", cfg.Path, kind, i+1)
		}
		if err := checkDeclared(e, src); err != nil {
			return nil, bad("%s: [[%ss]] #%d: %w", cfg.Path, kind, i+1, err)
		}
		for _, b := range src.Buildpacks {
			if !set.Add(b) {
				kept, _ := set.Lookup(b.ID(), b.Version())
				if !sameLayer(kept, b) {
					fmt.Fprintf(log, "%s %s from %s differs from the one from %s; keeping the first\n", kind, b.Ref(), b.Source, kept.Source)
				}
			}
		}
	}
	return set, nil
}

// resolveOrder returns order (cfg's [[order]] or [[order-extensions]],
// as table says) with every version filled in from set, or an error
// naming the first entry set cannot serve.
func resolveOrder(cfg *Config, table string, order descriptor.Order, set *buildpackage.Set) (descriptor.Order, error) {
	for gi, g := range order {
		for ei, e := range g.Group {
			b, err := set.LookupIn(e.ID, e.Version, "the builder")
			if err != nil {
				return nil, bad("%s: [[%s]] #%d, [[%s.group]] #%d: %w", cfg.Path, table, gi+1, table, ei+1, err)
			}
			order[gi].Group[ei].Version = b.Version()
		}
	}
	return order, nil
}

// resolveSystem is cfg's [system] with every version filled in from the
// buildpacks in set.
func resolveSystem(cfg *Config, set *buildpackage.Set) (System, error) {
	var out System
	for _, g := range []struct {
		name string
		in   []ConfigGroupEntry
		out  *descriptor.Group
	}{{"[system.pre]", cfg.System.Pre.Buildpacks, &out.Pre}, {"[system.post]", cfg.System.Post.Buildpacks, &out.Post}} {
		for i, e := range g.in {
			b, err := set.LookupIn(e.ID, e.Version, "the builder")
			if err != nil {
				return System{}, bad("%s: %s buildpacks #%d: %w", cfg.Path, g.name, i+1, err)
			}
			g.out.Group = append(g.out.Group, descriptor.GroupEntry{ID: e.ID, Version: b.Version(), Optional: e.Optional})
		}
	}
	return out, nil
}

// checkTargets checks that the build image is for one of cfg's
// [[targets]]: kiln builder create makes a builder for the build image's
// platform (and says so when the file lists others).
func checkTargets(cfg *Config, bcfg *v1.ConfigFile, log io.Writer) error {
	if len(cfg.Targets) == 0 {
		return nil
	}
	have := ConfigTarget{OS: bcfg.OS, Arch: bcfg.Architecture, Variant: bcfg.Variant}
	var others []string
	found := false
	for _, t := range cfg.Targets {
		if t.OS == have.OS && t.Arch == have.Arch && (t.Variant == "" || t.Variant == have.Variant) && distroMatches(t, bcfg) {
			found = true
			continue
		}
		others = append(others, t.String())
	}
	if !found {
		return bad("%s: [[targets]] are %s, but the build image %s is %s", cfg.Path, strings.Join(others, ", "), cfg.BuildImage(), have)
	}
	if len(others) > 0 {
		fmt.Fprintf(log, "note: %s also targets %s; this builder is for %s, the build image's platform\n", cfg.Path, strings.Join(others, ", "), have)
	}
	return nil
}

// distroMatches reports whether the build image's distribution (its
// io.buildpacks.base.distro.* labels, when set) is one t lists.
func distroMatches(t ConfigTarget, bcfg *v1.ConfigFile) bool {
	name := bcfg.Config.Labels[labels.BaseDistroName]
	version := bcfg.Config.Labels[labels.BaseDistroVersion]
	if len(t.Distributions) == 0 || name == "" {
		return true
	}
	for _, d := range t.Distributions {
		if d.Name == name && (d.Version == "" || d.Version == version) {
			return true
		}
	}
	return false
}
