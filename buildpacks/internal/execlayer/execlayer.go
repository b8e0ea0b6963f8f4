package execlayer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/kiln-build/kiln/buildpacks/internal/fsutil"
	"github.com/kiln-build/kiln/buildpacks/internal/layerbom"
	"github.com/kiln-build/kiln/buildpacks/internal/shell"
	"github.com/kiln-build/kiln/buildpacks/sdk"
)

// Binary is kiln-exec's file name in a packaged buildpack's bin/.
const Binary = "kiln-exec"

// LayerName is the launch layer kiln-exec is installed into.
const LayerName = "exec"

// Command returns the process command for line. The first time a line
// needs kiln-exec, it is installed into the buildpack's "exec" launch
// layer.
func Command(bc *sdk.BuildContext, line string) ([]string, error) {
	if words, ok := shell.Plain(line); ok {
		return words, nil
	}
	dst := filepath.Join(bc.LayersDir, LayerName, "bin", Binary)
	if _, err := os.Stat(dst); err != nil {
		if err := install(bc, dst); err != nil {
			return nil, err
		}
	}
	return []string{dst, line}, nil
}

// install puts kiln-exec into the launch layer, or keeps the previous
// image's layer when it holds the same kiln-exec (its metadata says so):
// the exporter then reuses that layer instead of compressing it again.
// Calling it again in one build changes nothing.
func install(bc *sdk.BuildContext, dst string) error {
	src := filepath.Join(bc.Buildpack.Dir, "bin", Binary)
	sum, err := fsutil.FileSHA256(src)
	if errors.Is(err, fs.ErrNotExist) {
		return sdk.Fix(err, "reinstall the buildpack: its kiln-exec helper is missing")
	}
	if err != nil {
		return err
	}
	layer, err := bc.Layer(LayerName, sdk.LayerTypes{Launch: true})
	if err != nil {
		return err
	}
	reused, err := layer.Reuse(map[string]string{"kiln-exec-sha256": sum})
	if err != nil {
		return err
	}
	// the SBOM is written on reuse too: SBOM files are not restored
	if err := layerbom.ToolSBOM(bc, layer, Binary, src, sum); err != nil {
		return err
	}
	if reused {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(dst), err)
	}
	if err := fsutil.CopyFile(src, dst, 0o755); err != nil {
		return err
	}
	bc.Log.Detail("installed kiln-exec into layer %s: the run image has no shell to expand the command", LayerName)
	return nil
}
