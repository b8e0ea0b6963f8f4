package builder

import (
	"fmt"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/lifecycle/buildpackage"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// extensionLabels are what a builder's labels say of its extensions.
type extensionLabels struct {
	layers labels.BuildpackLayersLabel // io.buildpacks.extension.layers
	refs   []labels.BuildpackRef       // the builder label's "extensions"
}

// checkExtensions sorts the extensions by id and version and checks
// that each is an image extension, given once, and that order names only
// them.
func checkExtensions(exts []buildpackage.Buildpack, order descriptor.Order) ([]buildpackage.Buildpack, error) {
	out := append([]buildpackage.Buildpack(nil), exts...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Ref() < out[j].Ref() })
	have := map[string]bool{}
	for _, e := range out {
		if !e.Descriptor.IsExtension() {
			return nil, fmt.Errorf("%s (from %s) is a buildpack, not an image extension", e.Ref(), e.Source)
		}
		if have[e.Ref()] {
			return nil, fmt.Errorf("extension %s is given twice", e.Ref())
		}
		have[e.Ref()] = true
	}
	for gi, g := range order {
		for _, e := range g.Group {
			if !have[e.ID+"@"+e.Version] {
				return nil, fmt.Errorf("order-extensions: group %d names extension %s, which the builder lacks", gi+1, e.Ref())
			}
		}
	}
	return out, nil
}

// addExtensions adds one layer per extension (as it came, keeping its
// diffID) and returns what the labels say of them.
func addExtensions(img v1.Image, exts []buildpackage.Buildpack, layerType types.MediaType, mt time.Time) (v1.Image, extensionLabels, error) {
	l := extensionLabels{layers: labels.BuildpackLayersLabel{}}
	for _, e := range exts {
		info, err := e.LayerInfo()
		if err != nil {
			return nil, extensionLabels{}, err
		}
		if img, err = appendLayer(img, buildpackage.WithMediaType(e.Layer, layerType), mt, "extension "+e.Ref()); err != nil {
			return nil, extensionLabels{}, err
		}
		if l.layers[e.ID()] == nil {
			l.layers[e.ID()] = map[string]labels.BuildpackLayerInfo{}
		}
		l.layers[e.ID()][e.Version()] = info
		l.refs = append(l.refs, labels.BuildpackRef{ID: e.ID(), Version: e.Version(), Homepage: e.Descriptor.Buildpack.Homepage})
	}
	return img, l, nil
}
