package builder

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/kiln-build/kiln/internal/beneath"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
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
// <root>/cnb/stack.toml. A builder with neither has no run images. root
// is an unpacked builder image, which may come from anywhere: the files
// are read without following links (one to a host file) and bounded.
func ReadRunImages(root string) (RunImages, error) {
	r := beneath.New(root, func(rel string) string { return "/" + rel })
	var ri RunImages
	err := decodeBuilderTOML(r, "cnb/run.toml", &ri)
	switch {
	case err == nil:
		for i, img := range ri.Images {
			if img.Image == "" {
				return RunImages{}, fmt.Errorf("reading /cnb/run.toml: images[%d] has no image", i)
			}
		}
		return ri, nil
	case !errors.Is(err, fs.ErrNotExist):
		return RunImages{}, err
	}
	var s stackTOML
	if err := decodeBuilderTOML(r, "cnb/stack.toml", &s); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return RunImages{}, nil
		}
		return RunImages{}, err
	}
	if s.RunImage.Image != "" {
		ri.Images = []RunImage{s.RunImage}
	}
	return ri, nil
}

// decodeBuilderTOML decodes the TOML file rel of the builder root r into
// v, read through no link and at most descriptor.MaxTOMLSize bytes.
func decodeBuilderTOML(r *beneath.Root, rel string, v any) error {
	data, err := r.ReadFile(rel, descriptor.MaxTOMLSize)
	if err != nil {
		return fmt.Errorf("reading %w", err)
	}
	_, err = descriptor.DecodeTOML("/"+rel, data, v)
	return err
}

// labelRefs converts run images to the label shape.
func (r RunImages) labelRefs() []labels.ImageRef {
	var out []labels.ImageRef
	for _, i := range r.Images {
		out = append(out, labels.ImageRef{Image: i.Image, Mirrors: i.Mirrors})
	}
	return out
}

// readOrders reads /cnb/order.toml of the unpacked builder root rootfs,
// through no link and bounded, as ReadRunImages reads run.toml.
func readOrders(rootfs string) (descriptor.Orders, error) {
	data, err := beneath.New(rootfs, func(rel string) string { return "/" + rel }).ReadFile("cnb/order.toml", descriptor.MaxTOMLSize)
	if err != nil {
		return descriptor.Orders{}, fmt.Errorf("reading %w", err)
	}
	return descriptor.DecodeOrders("/cnb/order.toml", data)
}
