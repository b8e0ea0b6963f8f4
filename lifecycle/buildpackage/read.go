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
		return nil, inputErrorf("%s: label %s names no buildpack id and version", source, labels.BuildpackageMeta)
	}
	bps, err := ReadLayers(ctx, img, source)
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
	return nil, inputErrorf("%s: its entrypoint buildpack %s@%s (label %s) has no layer", source, md.ID, md.Version, labels.BuildpackageMeta)
}

// ReadLayers returns the buildpacks that img's io.buildpacks.buildpack.layers
// label lists (img is a buildpackage or a builder), sorted by id and
// version, each with its layer as it is in img.
func ReadLayers(ctx context.Context, img v1.Image, source string) ([]Buildpack, error) {
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the config of %s: %w", source, err)
	}
	var ll labels.BuildpackLayersLabel
	ok, err := labels.Decode(cfg, labels.BuildpackLayers, &ll)
	if err != nil {
		return nil, inputErrorf("%s: %w", source, err)
	}
	if !ok || len(ll) == 0 {
		return nil, inputErrorf("%s has no buildpacks: no %s label", source, labels.BuildpackLayers)
	}
	var out []Buildpack
	for id, vs := range ll {
		for version, info := range vs {
			b, err := readLayerBuildpack(ctx, img, source, id, version, info)
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

func readLayerBuildpack(ctx context.Context, img v1.Image, source, id, version string, info labels.BuildpackLayerInfo) (Buildpack, error) {
	ref := id + "@" + version
	h, err := v1.NewHash(info.LayerDiffID)
	if err != nil {
		return Buildpack{}, inputErrorf("%s: buildpack %s: layerDiffID %q: %w", source, ref, info.LayerDiffID, err)
	}
	l, err := img.LayerByDiffID(h)
	if err != nil {
		return Buildpack{}, inputErrorf("%s: buildpack %s: no layer with diffID %s: %w", source, ref, h, err)
	}
	bp, stacks, hasBuild, err := layerDescriptor(ctx, l, source, id, version)
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

// layerDescriptor reads the buildpack.toml of id@version from a buildpack
// layer and checks it as descriptor.ReadBuildpack checks a directory. It
// reports whether the buildpack has a Linux bin/build.
func layerDescriptor(ctx context.Context, l v1.Layer, source, id, version string) (bp *descriptor.Buildpack, stacks []labels.StackEntry, hasBuild bool, err error) {
	ref := id + "@" + version
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, nil, false, fmt.Errorf("%s: reading the layer of buildpack %s: %w", source, ref, err)
	}
	defer rc.Close()
	dir := path.Join("cnb", "buildpacks", descriptor.EscapeID(id), version)
	if descriptor.EscapeID(id) != path.Base(path.Dir(dir)) || path.Base(dir) != version || strings.HasPrefix(version, ".") {
		return nil, nil, false, inputErrorf("%s: buildpack %s: id or version cannot be a directory name", source, ref)
	}
	var data []byte
	found := map[string]bool{}
	tr := tar.NewReader(rc)
	for {
		if err := ctx.Err(); err != nil {
			return nil, nil, false, err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, false, inputErrorf("%s: reading the layer of buildpack %s: %w", source, ref, err)
		}
		name := cleanTarName(h.Name)
		rel, inside := strings.CutPrefix(name, dir+"/")
		if !inside {
			if path.Base(name) == descriptor.BuildpackFile && strings.Count(name, "/") == 4 && strings.HasPrefix(name, "cnb/buildpacks/") {
				return nil, nil, false, inputErrorf("%s: the layer of buildpack %s also holds /%s: one buildpack per layer", source, ref, name)
			}
			continue
		}
		isFile := h.Typeflag == tar.TypeReg || h.Typeflag == tar.TypeSymlink || h.Typeflag == tar.TypeLink
		switch {
		case rel == descriptor.BuildpackFile && h.Typeflag == tar.TypeReg:
			if h.Size > maxDescriptorSize {
				return nil, nil, false, inputErrorf("%s: /%s/%s is %d bytes: too large", source, dir, rel, h.Size)
			}
			if data, err = io.ReadAll(tr); err != nil {
				return nil, nil, false, fmt.Errorf("%s: reading /%s/%s: %w", source, dir, rel, err)
			}
		case isFile:
			found[rel] = true
		}
	}
	name := fmt.Sprintf("%s:/%s/%s", source, dir, descriptor.BuildpackFile)
	if data == nil {
		return nil, nil, false, inputErrorf("%s: the layer of buildpack %s has no /%s/%s", source, ref, dir, descriptor.BuildpackFile)
	}
	bp, err = descriptor.DecodeBuildpack(name, data)
	if err != nil {
		return nil, nil, false, &InputError{Err: err}
	}
	if bp.Buildpack.ID != id || bp.Buildpack.Version != version {
		return nil, nil, false, inputErrorf("%s declares buildpack %s, but the image labels file it as %s", name, bp.Ref(), ref)
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

// cleanTarName turns a tar entry name into a clean relative path:
// "/cnb/x", "./cnb/x" and "cnb/x/" all become "cnb/x".
func cleanTarName(n string) string {
	n = path.Clean("/" + n)
	return strings.TrimPrefix(n, "/")
}
