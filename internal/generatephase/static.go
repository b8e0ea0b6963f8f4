package generatephase

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/kiln-build/kiln/internal/beneath"
	"github.com/kiln-build/kiln/internal/dockerfile"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// StaticFiles are the files of an extension's generate/ directory that
// stand for bin/generate's output when it has none: its Dockerfiles and
// their build args. (Context directories are of no use to kiln, which
// applies no Dockerfile instruction.)
var StaticFiles = []string{dockerfile.Run.File(), dockerfile.Build.File(), "extend-config.toml"}

// copyStatic copies the StaticFiles of ext's generate/ directory into
// out. Each must be a regular file reached without a link, and bounded.
func copyStatic(ext *descriptor.Buildpack, out string) error {
	dir := filepath.Join(ext.Dir, "generate")
	root := beneath.New(dir, func(rel string) string { return filepath.Join(dir, rel) })
	for _, name := range StaticFiles {
		data, err := root.ReadFile(name, dockerfile.MaxSize)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("extension %s: %w", ext.Ref(), err)
		}
		if err := os.WriteFile(filepath.Join(out, name), data, 0o644); err != nil {
			return fmt.Errorf("extension %s: writing its %s: %w", ext.Ref(), name, err)
		}
	}
	return nil
}
