package debian

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"

	"github.com/kiln-build/kiln/stacks/debian/dpkg"
	"github.com/kiln-build/kiln/stacks/debian/rootfs"
)

// Package is one installed Debian package.
type Package = dpkg.Package

// Packages returns the installed package list recorded in a stack image
// built by Build.
func Packages(img v1.Image) ([]Package, error) {
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading image config: %w", err)
	}
	raw, ok := cfg.Config.Labels[LabelPackages]
	if !ok {
		return nil, fmt.Errorf("image has no %s label: not a kiln Debian stack image", LabelPackages)
	}
	var refs []string
	if err := json.Unmarshal([]byte(raw), &refs); err != nil {
		return nil, fmt.Errorf("decoding label %s: %w", LabelPackages, err)
	}
	out := make([]Package, 0, len(refs))
	for _, s := range refs {
		p, err := dpkg.ParseRef(s)
		if err != nil {
			return nil, fmt.Errorf("decoding label %s: %w", LabelPackages, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// writeLayer writes the archive as a gzip-compressed layer file at p.
func writeLayer(ctx context.Context, a *rootfs.Archive, p string, modTime time.Time) error {
	f, err := os.Create(p)
	if err != nil {
		return fmt.Errorf("creating layer %s: %w", p, err)
	}
	defer f.Close()
	zw, err := gzip.NewWriterLevel(f, gzip.DefaultCompression)
	if err != nil {
		return fmt.Errorf("compressing layer %s: %w", p, err)
	}
	if err := a.WriteTo(ctx, zw, modTime); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("compressing layer %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing layer %s: %w", p, err)
	}
	return nil
}

// assemble makes the image from the layer file and what was learnt about
// the root file system.
func assemble(r Recipe, layerPath string, f facts) (v1.Image, error) {
	layer, err := tarball.LayerFromFile(layerPath, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("reading layer %s: %w", layerPath, err)
	}
	created := v1.Time{Time: f.epoch}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   created,
			CreatedBy: createdBy(r),
			Comment:   "kiln Debian stack " + r.Kind + " image",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("adding layer %s: %w", layerPath, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading new image config: %w", err)
	}
	cfg = cfg.DeepCopy()
	plat := debianArchs[r.Arch]
	cfg.Created = created
	cfg.OS = "linux"
	cfg.Architecture = plat.arch
	cfg.Variant = plat.variant
	cfg.Config.User = strconv.Itoa(r.UID) + ":" + strconv.Itoa(r.GID)
	if r.RootUser {
		cfg.Config.User = "0:0"
	}
	cfg.Config.Env = imageEnv(r)
	if cfg.Config.Labels, err = imageLabels(r, f); err != nil {
		return nil, err
	}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("setting image config: %w", err)
	}
	return img, nil
}

// createdBy describes the build in the image history.
func createdBy(r Recipe) string {
	parts := []string{"kiln stack: mmdebstrap", "--variant=" + r.Variant}
	if len(r.Packages) > 0 {
		parts = append(parts, "--include="+strings.Join(r.Packages, ","))
	}
	return strings.Join(append(parts, r.Suite, r.Mirror), " ")
}

// imageEnv is PATH, the CNB variables and the recipe's env, sorted.
func imageEnv(r Recipe) []string {
	env := map[string]string{"PATH": DefaultPath}
	maps.Copy(env, r.Env)
	env["CNB_USER_ID"] = strconv.Itoa(r.UID)
	env["CNB_GROUP_ID"] = strconv.Itoa(r.GID)
	if r.StackID != "" {
		env["CNB_STACK_ID"] = r.StackID
	}
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}

// imageLabels is the recipe's labels plus the base-image labels.
func imageLabels(r Recipe, f facts) (map[string]string, error) {
	labels := maps.Clone(r.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelDistroName] = f.distroName
	labels[LabelDistroVersion] = f.distroVersion
	labels[LabelReleased] = f.epoch.Format(time.RFC3339)
	if r.StackID != "" {
		labels[LabelStackID] = r.StackID
		labels[LabelBaseID] = r.StackID
	}
	refs := make([]string, len(f.packages))
	for i, p := range f.packages {
		refs[i] = p.String()
	}
	b, err := json.Marshal(refs)
	if err != nil {
		return nil, fmt.Errorf("encoding label %s: %w", LabelPackages, err)
	}
	labels[LabelPackages] = string(b)
	return labels, nil
}
