package builder

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
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
	base := filepath.Dir(cfg.Path)
	r := &buildpackage.Resolver{Images: o.Images, Layers: buildpackage.LayerOptions{ModTime: o.ModTime, TempDir: o.TempDir}}
	var set buildpackage.Set
	for i, e := range cfg.Buildpacks {
		src, err := r.Resolve(ctx, e.Ref(), base)
		if err != nil {
			return nil, buildpackage.WrapInput(err, "%s: [[buildpacks]] #%d: ", cfg.Path, i+1)
		}
		if err := checkDeclared(e, src); err != nil {
			return nil, bad("%s: [[buildpacks]] #%d: %w", cfg.Path, i+1, err)
		}
		for _, b := range src.Buildpacks {
			if !set.Add(b) {
				kept, _ := set.Lookup(b.ID(), b.Version())
				if !sameLayer(kept, b) {
					fmt.Fprintf(log, "buildpack %s from %s differs from the one from %s; keeping the first\n", b.Ref(), b.Source, kept.Source)
				}
			}
		}
	}
	order, err := resolveOrder(cfg, &set)
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
	if want := cfg.Stack.ID; want != "" {
		if got := bcfg.Config.Labels[labels.StackID]; got != "" && got != want {
			return nil, bad("%s: [stack] id is %q, but build image %s has %s=%q", cfg.Path, want, cfg.BuildImage(), labels.StackID, got)
		}
	}
	img, err := Create(ctx, buildImg, CreateOptions{
		Packaged:    set.All(),
		Order:       order,
		Run:         cfg.RunImages(),
		Description: cfg.Description,
		Version:     o.Version,
		ModTime:     o.ModTime,
		TempDir:     o.TempDir,
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

// resolveOrder returns cfg's order with every version filled in from the
// buildpacks in set, or an error naming the first entry set cannot serve.
func resolveOrder(cfg *Config, set *buildpackage.Set) (descriptor.Order, error) {
	order := cfg.DescriptorOrder()
	for gi, g := range order {
		for ei, e := range g.Group {
			b, err := set.LookupIn(e.ID, e.Version, "the builder")
			if err != nil {
				return nil, bad("%s: [[order]] #%d, [[order.group]] #%d: %w", cfg.Path, gi+1, ei+1, err)
			}
			order[gi].Group[ei].Version = b.Version()
		}
	}
	return order, nil
}
