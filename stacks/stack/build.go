package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/stacks/debian"
	"github.com/kiln-build/kiln/stacks/sbom"
)

// Options control Build.
type Options struct {
	// CacheDir holds the built base images, keyed by recipe (see
	// debian.Options). Required.
	CacheDir string
	// Log receives progress lines and mmdebstrap's output (default:
	// discarded).
	Log io.Writer
	// Refresh rebuilds both images even when their recipes are cached, to
	// pick up updated packages.
	Refresh bool
	// Mmdebstrap is the program to run (default "mmdebstrap" from PATH).
	Mmdebstrap string
	// Arch, when set, is the Debian architecture both images are built
	// for instead of stack.toml's arch (a foreign one runs under qemu
	// user emulation).
	Arch string
}

// Images are a stack's two images.
type Images struct {
	Build, Run v1.Image
}

// Build makes the stack's build and run images: each from its recipe with
// stacks/debian (cached under opts.CacheDir), then one more layer with the
// SBOM of its packages, named by the io.buildpacks.base.sbom label. The run
// image is made first, as it is the smaller. Nothing is written anywhere
// but the cache; an error names the stack file and the entry at fault.
func Build(ctx context.Context, s *Stack, opts Options) (*Images, error) {
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	build, run := s.Recipes()
	if opts.Arch != "" {
		build.Arch, run.Arch = opts.Arch, opts.Arch
	}
	out := &Images{}
	steps := []struct {
		table  string
		recipe debian.Recipe
		dst    *v1.Image
	}{{"run", run, &out.Run}, {"build", build, &out.Build}}
	for i, st := range steps {
		fmt.Fprintf(log, "==> [%d/%d] %s image of stack %s (%s, variant %s, %d packages asked for)\n",
			i+1, len(steps), st.table, s.Name, st.recipe.Suite, variantName(st.recipe), len(st.recipe.Packages))
		started := time.Now()
		base, err := debian.Build(ctx, st.recipe, debian.Options{
			CacheDir:   opts.CacheDir,
			Log:        log,
			Refresh:    opts.Refresh,
			Mmdebstrap: opts.Mmdebstrap,
		})
		if err != nil {
			return nil, s.blame(st.table, err)
		}
		img, err := WithSBOM(ctx, base, s.File.ID, st.table)
		if err != nil {
			return nil, fmt.Errorf("%s: [%s] image: %w", s.Path, st.table, err)
		}
		*st.dst = img
		d, err := img.Digest()
		if err != nil {
			return nil, fmt.Errorf("%s: [%s] image: %w", s.Path, st.table, err)
		}
		fmt.Fprintf(log, "==> %s image ready: %s (%s)\n", st.table, d, time.Since(started).Round(100*time.Millisecond))
	}
	return out, nil
}

func variantName(r debian.Recipe) string {
	if r.Variant == "" {
		return debian.DefaultVariant
	}
	return r.Variant
}

// blame prefixes a build error with the stack file and the entry at
// fault: the image table for package problems, the shared key for suite,
// mirror and sources.
func (s *Stack) blame(table string, err error) error {
	var te *debian.ToolError
	if errors.As(err, &te) {
		switch te.Key {
		case "packages":
			return fmt.Errorf("%s: [%s] packages: %q: %w", s.Path, table, te.Value, err)
		case "suite", "mirror", "sources":
			return fmt.Errorf("%s: %s: %q: %w", s.Path, te.Key, te.Value, err)
		}
	}
	return fmt.Errorf("%s: [%s] image: %w", s.Path, table, err)
}

// WithSBOM returns img (a stack image made by debian.Build) with one more
// layer holding the CycloneDX SBOM of its packages at /cnb/sbom/bom.cdx.json,
// and the label io.buildpacks.base.sbom naming that layer's diffID. The
// layer's times and the history entry use the image's creation time, so
// the result is as reproducible as img. name and kind identify the image
// in the SBOM.
//
// Packages whose every file the recipe removed (the run image's shell and
// dpkg, needed only to install) are not in the image: they are left out of
// the SBOM and of the io.kiln.packages label, which lists what the image
// holds.
func WithSBOM(ctx context.Context, img v1.Image, name, kind string) (v1.Image, error) {
	installed, err := debian.Packages(img)
	if err != nil {
		return nil, err
	}
	pkgs, err := presentPackages(ctx, img, installed)
	if err != nil {
		return nil, fmt.Errorf("checking which packages the image holds: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading image config: %w", err)
	}
	created := cfg.Created.Time.UTC()
	doc, err := sbom.CycloneDX(sbom.Subject{
		Name:          name,
		Version:       kind,
		Distro:        cfg.Config.Labels[debian.LabelDistroName],
		DistroVersion: cfg.Config.Labels[debian.LabelDistroVersion],
		Created:       created,
	}, pkgs)
	if err != nil {
		return nil, err
	}
	layer, err := sbom.Layer(ctx, doc, created)
	if err != nil {
		return nil, err
	}
	diffID, err := layer.DiffID()
	if err != nil {
		return nil, fmt.Errorf("writing SBOM layer: %w", err)
	}
	out, err := mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: layerMediaType,
		History: v1.History{
			Created:   v1.Time{Time: created},
			CreatedBy: "kiln stack: SBOM of the installed packages at /" + sbom.Path,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("adding SBOM layer: %w", err)
	}
	ncfg, err := out.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading image config: %w", err)
	}
	ncfg = ncfg.DeepCopy()
	if ncfg.Config.Labels == nil {
		ncfg.Config.Labels = map[string]string{}
	}
	ncfg.Config.Labels[LabelSBOM] = diffID.String()
	if len(pkgs) != len(installed) {
		refs := make([]string, len(pkgs))
		for i, p := range pkgs {
			refs[i] = p.String()
		}
		list, err := json.Marshal(refs)
		if err != nil {
			return nil, fmt.Errorf("encoding label %s: %w", debian.LabelPackages, err)
		}
		ncfg.Config.Labels[debian.LabelPackages] = string(list)
	}
	out, err = mutate.ConfigFile(out, ncfg)
	if err != nil {
		return nil, fmt.Errorf("setting image config: %w", err)
	}
	return out, nil
}

// layerMediaType is the SBOM layer's type: OCI, like the base layer.
const layerMediaType = types.OCILayer
