package builder

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/BurntSushi/toml"

	"github.com/kiln-build/kiln/lifecycle/labels"
)

// RunImages is the content of /cnb/run.toml: the run images a builder's
// apps may sit on, each with its mirrors, preferred first.
type RunImages struct {
	Images []RunImage `toml:"images"`
}

// RunImage is one run image and its mirrors.
type RunImage struct {
	Image   string   `toml:"image"`
	Mirrors []string `toml:"mirrors,omitempty"`
}

// stackTOML is the legacy /cnb/stack.toml: its run image.
type stackTOML struct {
	RunImage RunImage `toml:"run-image"`
}

// ReadRunImages reads <root>/cnb/run.toml, else the legacy
// <root>/cnb/stack.toml. A builder with neither has no run images.
func ReadRunImages(root string) (RunImages, error) {
	p := filepath.Join(root, "cnb", "run.toml")
	var r RunImages
	_, err := toml.DecodeFile(p, &r)
	switch {
	case err == nil:
		for i, img := range r.Images {
			if img.Image == "" {
				return RunImages{}, fmt.Errorf("reading /cnb/run.toml: images[%d] has no image", i)
			}
		}
		return r, nil
	case !errors.Is(err, os.ErrNotExist):
		return RunImages{}, fmt.Errorf("reading /cnb/run.toml: %w", err)
	}
	var s stackTOML
	if _, err := toml.DecodeFile(filepath.Join(root, "cnb", "stack.toml"), &s); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return RunImages{}, nil
		}
		return RunImages{}, fmt.Errorf("reading /cnb/stack.toml: %w", err)
	}
	if s.RunImage.Image != "" {
		r.Images = []RunImage{s.RunImage}
	}
	return r, nil
}

// labelRefs converts run images to the label shape.
func (r RunImages) labelRefs() []labels.ImageRef {
	var out []labels.ImageRef
	for _, i := range r.Images {
		out = append(out, labels.ImageRef{Image: i.Image, Mirrors: i.Mirrors})
	}
	return out
}
