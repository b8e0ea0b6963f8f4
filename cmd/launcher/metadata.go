package main

import (
	"errors"
	"io/fs"

	"github.com/kiln-build/kiln/lifecycle/launch"
)

// readMetadata reads <layers>/config/metadata.toml. An image without one
// (no buildpack contributed anything) has no processes, but user commands
// still run.
func readMetadata(path string) (launch.Metadata, error) {
	md, err := launch.ReadMetadata(path)
	if errors.Is(err, fs.ErrNotExist) {
		return launch.Metadata{}, nil
	}
	return md, err
}
