package imageio

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// MaxConfigSize bounds an image config kiln reads from a registry or an
// image file: go-containerregistry reads a config blob whole into memory,
// and a hostile manifest may declare one of any size. Real configs are
// kilobytes; kiln's own labels are capped at 1 MiB.
const MaxConfigSize = 16 << 20

// MaxLayers bounds the layers of an image kiln reads (the spec's and
// Docker's practical limit is 127 for a run; 1000 leaves room).
const MaxLayers = 1000

// checkBounds refuses img, named what, when its manifest declares a
// config over MaxConfigSize or more than MaxLayers layers, before either
// is fetched.
func checkBounds(img v1.Image, what string) (v1.Image, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading the manifest of %s: %w", what, err)
	}
	if m.Config.Size > MaxConfigSize {
		return nil, fmt.Errorf("%s: its manifest declares a %d-byte config; kiln reads configs of at most %d bytes", what, m.Config.Size, MaxConfigSize)
	}
	if n := len(m.Layers); n > MaxLayers {
		return nil, fmt.Errorf("%s: its manifest lists %d layers; kiln reads images of at most %d", what, n, MaxLayers)
	}
	return img, nil
}
