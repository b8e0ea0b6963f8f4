package buildpackage

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// maxDescriptorSize bounds a buildpack.toml read from a layer.
const maxDescriptorSize = 4 << 20

// Package is a buildpackage read from an image.
type Package struct {
	// Metadata is the io.buildpacks.buildpackage.metadata label.
	Metadata labels.Buildpackage
	// Entry is the entrypoint buildpack the metadata names.
	Entry Buildpack
	// Buildpacks are every buildpack in the package, Entry included,
	// sorted by id and version.
	Buildpacks []Buildpack
}

// Read reads the buildpackage img: its labels and, from each buildpack
// layer, the buildpack.toml. The layers stay those of img. source names
// img in errors and in each Buildpack's Source.
func Read(ctx context.Context, img v1.Image, source string) (*Package, error) {
	return ReadKind(ctx, descriptor.KindBuildpack, img, source)
}

// LayersLabel is the label listing a package's or builder's modules of
// kind: io.buildpacks.buildpack.layers or io.buildpacks.extension.layers.
func LayersLabel(kind descriptor.Kind) string {
	if kind == descriptor.KindExtension {
		return labels.ExtensionLayers
	}
	return labels.BuildpackLayers
}

// ReadKind is Read for a package of buildpacks or of an image extension
// (as pack packages one: io.buildpacks.buildpackage.metadata names it,
// io.buildpacks.extension.layers lists its layer at
// /cnb/extensions/<escaped id>/<version>/).
func ReadKind(ctx context.Context, kind descriptor.Kind, img v1.Image, source string) (*Package, error) {
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the config of %s: %w", source, err)
	}
	var md labels.Buildpackage
	ok, err := labels.Decode(cfg, labels.BuildpackageMeta, &md)
	if err != nil {
		return nil, inputErrorf("%s: %w", source, err)
	}
	if !ok {
		return nil, inputErrorf("%s is not a buildpackage: it has no %s label", source, labels.BuildpackageMeta)
	}
	if md.ID == "" || md.Version == "" {
		return nil, inputErrorf("%s: label %s names no %s id and version", source, labels.BuildpackageMeta, kind)
	}
	bps, err := ReadLayersOf(ctx, kind, img, source)
	if err != nil {
		return nil, err
	}
	p := &Package{Metadata: md, Buildpacks: bps}
	for _, b := range bps {
		if b.ID() == md.ID && b.Version() == md.Version {
			p.Entry = b
			return p, nil
		}
	}
	return nil, inputErrorf("%s: its entrypoint %s %s@%s (label %s) has no layer", source, kind, md.ID, md.Version, labels.BuildpackageMeta)
}

// ReadLayers returns the buildpacks that img's io.buildpacks.buildpack.layers
// label lists (img is a buildpackage or a builder), sorted by id and
// version, each with its layer as it is in img.
func ReadLayers(ctx context.Context, img v1.Image, source string) ([]Buildpack, error) {
	return ReadLayersOf(ctx, descriptor.KindBuildpack, img, source)
}

// ReadLayersOf is ReadLayers for the modules of kind (LayersLabel).
func ReadLayersOf(ctx context.Context, kind descriptor.Kind, img v1.Image, source string) ([]Buildpack, error) {
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the config of %s: %w", source, err)
	}
	var ll labels.BuildpackLayersLabel
	ok, err := labels.Decode(cfg, LayersLabel(kind), &ll)
	if err != nil {
		return nil, inputErrorf("%s: %w", source, err)
	}
	if !ok || len(ll) == 0 {
		return nil, inputErrorf("%s has no %ss: no %s label", source, kind, LayersLabel(kind))
	}
	var out []Buildpack
	for id, vs := range ll {
		for version, info := range vs {
			b, err := readLayerBuildpack(ctx, kind, img, source, id, version, info)
			if err != nil {
				return nil, err
			}
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ID() != out[j].ID() {
			return out[i].ID() < out[j].ID()
		}
		return out[i].Version() < out[j].Version()
	})
	return out, nil
}

func readLayerBuildpack(ctx context.Context, kind descriptor.Kind, img v1.Image, source, id, version string, info labels.BuildpackLayerInfo) (Buildpack, error) {
	ref := id + "@" + version
	h, err := v1.NewHash(info.LayerDiffID)
	if err != nil {
		return Buildpack{}, inputErrorf("%s: %s %s: layerDiffID %q: %w", source, kind, ref, info.LayerDiffID, err)
	}
	l, err := img.LayerByDiffID(h)
	if err != nil {
		return Buildpack{}, inputErrorf("%s: %s %s: no layer with diffID %s: %w", source, kind, ref, h, err)
	}
	bp, stacks, hasBuild, err := layerDescriptor(ctx, kind, l, source, id, version)
	if err != nil {
		return Buildpack{}, err
	}
	if len(bp.Targets) == 0 {
		bp.Targets = descriptorTargets(info.Targets)
	}
	if len(bp.Targets) == 0 && hasBuild {
		// the spec's inferred target, as descriptor.ReadBuildpack does
		bp.Targets = []descriptor.Target{{OS: "linux"}}
	}
	if len(stacks) == 0 {
		stacks = info.Stacks
	}
	return Buildpack{Descriptor: bp, Layer: l, Stacks: stacks, Source: source}, nil
}

// layerDescriptor reads the buildpack.toml (extension.toml) of
// id@version from its layer and checks it as descriptor.ReadBuildpack
// (ReadExtension) checks a directory. It reports whether the module has
// what infers the Linux target: a bin/build (an extension's bin/detect or
// bin/generate).
func layerDescriptor(ctx context.Context, kind descriptor.Kind, l v1.Layer, source, id, version string) (bp *descriptor.Buildpack, stacks []labels.StackEntry, linux bool, err error) {
	ref := id + "@" + version
	dir := path.Join(kind.Dir(), descriptor.EscapeID(id), version)
	if descriptor.EscapeID(id) != path.Base(path.Dir(dir)) || path.Base(dir) != version || strings.HasPrefix(version, ".") {
		return nil, nil, false, inputErrorf("%s: %s %s: id or version cannot be a directory name", source, kind, ref)
	}
	data, found, err := readLayerFiles(ctx, kind, l, source, ref, dir)
	if err != nil {
		return nil, nil, false, err
	}
	name := fmt.Sprintf("%s:/%s/%s", source, dir, kind.File())
	if data == nil {
		return nil, nil, false, inputErrorf("%s: the layer of %s %s has no /%s/%s", source, kind, ref, dir, kind.File())
	}
	if kind == descriptor.KindExtension {
		if bp, err = descriptor.DecodeExtension(name, data); err != nil {
			return nil, nil, false, &InputError{Err: err}
		}
	} else if bp, err = descriptor.DecodeBuildpack(name, data); err != nil {
		return nil, nil, false, &InputError{Err: err}
	}
	if bp.Buildpack.ID != id || bp.Buildpack.Version != version {
		return nil, nil, false, inputErrorf("%s declares %s %s, but the image labels file it as %s", name, kind, bp.Ref(), ref)
	}
	if kind == descriptor.KindExtension {
		return bp, nil, found["bin/detect"] || found["bin/generate"], nil
	}
	stacks, err = decodeStacks(name, data)
	if err != nil {
		return nil, nil, false, &InputError{Err: err}
	}
	hasBin := found["bin/detect"] || found["bin/build"] || found["bin/detect.bat"] || found["bin/build.bat"] || found["bin/detect.exe"] || found["bin/build.exe"]
	complete := (found["bin/detect"] && found["bin/build"]) || ((found["bin/detect.bat"] || found["bin/detect.exe"]) && (found["bin/build.bat"] || found["bin/build.exe"]))
	switch {
	case bp.IsComposite() && hasBin:
		return nil, nil, false, inputErrorf("invalid %s: a composite buildpack ([[order]]) must not contain bin/detect or bin/build", name)
	case !bp.IsComposite() && !complete:
		return nil, nil, false, inputErrorf("invalid %s: a component buildpack needs bin/detect and bin/build (or an [[order]] to be composite)", name)
	}
	return bp, stacks, found["bin/build"], nil
}

// readLayerFiles reads a module's layer: the descriptor's content (nil
// when absent) and which files are under dir.
func readLayerFiles(ctx context.Context, kind descriptor.Kind, l v1.Layer, source, ref, dir string) ([]byte, map[string]bool, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: reading the layer of %s %s: %w", source, kind, ref, err)
	}
	defer rc.Close()
	var data []byte
	found := map[string]bool{}
	tr := tar.NewReader(rc)
	for {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return data, found, nil
		}
		if err != nil {
			return nil, nil, inputErrorf("%s: reading the layer of %s %s: %w", source, kind, ref, err)
		}
		name := cleanTarName(h.Name)
		rel, inside := strings.CutPrefix(name, dir+"/")
		if !inside {
			if path.Base(name) == kind.File() && strings.Count(name, "/") == 4 && strings.HasPrefix(name, kind.Dir()+"/") {
				return nil, nil, inputErrorf("%s: the layer of %s %s also holds /%s: one %s per layer", source, kind, ref, name, kind)
			}
			continue
		}
		isFile := h.Typeflag == tar.TypeReg || h.Typeflag == tar.TypeSymlink || h.Typeflag == tar.TypeLink
		switch {
		case rel == kind.File() && h.Typeflag == tar.TypeReg:
			if h.Size > maxDescriptorSize {
				return nil, nil, inputErrorf("%s: /%s/%s is %d bytes: too large", source, dir, rel, h.Size)
			}
			if data, err = io.ReadAll(io.LimitReader(tr, maxDescriptorSize)); err != nil {
				return nil, nil, fmt.Errorf("%s: reading /%s/%s: %w", source, dir, rel, err)
			}
		case isFile:
			found[rel] = true
		}
	}
}

// cleanTarName turns a tar entry name into a clean relative path:
// "/cnb/x", "./cnb/x" and "cnb/x/" all become "cnb/x".
func cleanTarName(n string) string {
	n = path.Clean("/" + n)
	return strings.TrimPrefix(n, "/")
}
