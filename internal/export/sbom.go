package export

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// sbomExts are the SBOM file extensions of Buildpack API 0.7 and later.
var sbomExts = []string{"cdx.json", "spdx.json", "syft.json"}

// sbomTar collects the launch SBOM files: <bp>/launch.sbom.<ext> becomes
// <layers>/sbom/launch/<bp>/sbom.<ext>, and <bp>/<layer>.sbom.<ext> of a
// launch layer becomes <layers>/sbom/launch/<bp>/<layer>/sbom.<ext>. It
// returns nil when there are none.
func sbomTar(o Options, layersRel string, owner archive.Owner, opt archive.Option, md labels.Lifecycle) (*archive.Tar, error) {
	t := archive.NewTar(opt)
	n := 0
	addIf := func(host, name string) error {
		fi, err := os.Lstat(host)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading SBOM %s: %w", host, err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("SBOM %s is not a regular file", host)
		}
		n++
		return t.Add(archive.HostFile(name, host, 0o644, owner))
	}
	for _, bp := range md.Buildpacks {
		esc := descriptor.EscapeID(bp.Key)
		bpDir := filepath.Join(o.LayersDir, esc)
		dst := path.Join(layersRel, "sbom", "launch", esc)
		for _, ext := range sbomExts {
			if err := addIf(filepath.Join(bpDir, "launch.sbom."+ext), path.Join(dst, "sbom."+ext)); err != nil {
				return nil, err
			}
			for name := range bp.Layers {
				if err := addIf(filepath.Join(bpDir, name+".sbom."+ext), path.Join(dst, name, "sbom."+ext)); err != nil {
					return nil, err
				}
			}
		}
	}
	if n == 0 {
		return nil, nil
	}
	return t, nil
}
