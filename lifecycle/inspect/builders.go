package inspect

import (
	"fmt"

	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// BuilderEntry is one builder in the local store.
type BuilderEntry struct {
	Name        string `json:"name"`
	Digest      string `json:"digest"`
	Description string `json:"description,omitempty"`
	// Buildpacks counts the buildpacks the builder carries.
	Buildpacks int `json:"buildpacks"`
}

// Builders lists the images in store that carry the builder label, sorted
// by name.
func Builders(store *imageio.LocalStore) ([]BuilderEntry, error) {
	entries, err := store.List()
	if err != nil {
		return nil, err
	}
	out := []BuilderEntry{}
	for _, e := range entries {
		img, err := store.Image(e.Name)
		if err != nil {
			return nil, fmt.Errorf("reading %s from the local store: %w", e.Name, err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("reading the config of %s: %w", e.Name, err)
		}
		var md labels.Builder
		ok, err := labels.Decode(cfg, labels.BuilderMetadata, &md)
		if !ok {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name, err)
		}
		var ll labels.BuildpackLayersLabel
		if _, err := labels.Decode(cfg, labels.BuildpackLayers, &ll); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name, err)
		}
		n := 0
		for _, vs := range ll {
			n += len(vs)
		}
		if n == 0 {
			n = len(md.Buildpacks)
		}
		out = append(out, BuilderEntry{Name: e.Name, Digest: e.Digest.String(), Description: md.Description, Buildpacks: n})
	}
	return out, nil
}
