package execlayer

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

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

func install(bc *sdk.BuildContext, dst string) error {
	layer, err := bc.Layer(LayerName, sdk.LayerTypes{Launch: true})
	if err != nil {
		return err
	}
	if err := layer.Reset(); err != nil {
		return err
	}
	src := filepath.Join(bc.Buildpack.Dir, "bin", Binary)
	in, err := os.Open(src)
	if err != nil {
		return sdk.Fix(fmt.Errorf("opening %s: %w", src, err), "reinstall the buildpack: its kiln-exec helper is missing")
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(dst), err)
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return fmt.Errorf("creating %s: %w", dst, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", dst, err)
	}
	bc.Log.Detail("installed kiln-exec into layer %s: the run image has no shell to expand the command", LayerName)
	return nil
}
