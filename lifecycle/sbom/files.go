package sbom

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/lifecycle/labels"
)

// File is one buildpack SBOM file of an app image.
type File struct {
	// Path is where the file sits under the layers dir's sbom directory:
	// launch/<buildpack>/[<layer>/]sbom.<cdx.json|spdx.json|syft.json>.
	Path string
	Data []byte
}

// Files returns the buildpack SBOM files of the app image img as its SBOM
// layer holds them, read with Read's bounds and checks; none when the
// image has no SBOM layer.
func Files(ctx context.Context, img v1.Image) ([]File, error) {
	_, md, err := appMetadata(img)
	if err != nil {
		return nil, err
	}
	if md.SBOM == nil || md.SBOM.SHA == "" {
		return nil, nil
	}
	r := &reader{img: img}
	files, err := r.readLayer(ctx, "SBOM layer", md.SBOM.SHA, func(p string, dir bool) (bool, error) {
		if dir {
			return false, nil
		}
		_, _, _, _, err := bpPath(p)
		return err == nil, err
	})
	if err != nil {
		return nil, err
	}
	out := make([]File, 0, len(files))
	for _, f := range files {
		i := strings.Index("/"+f.name, "/sbom/launch/")
		out = append(out, File{Path: f.name[i+len("sbom/"):], Data: f.data})
	}
	return out, nil
}

// WriteFiles writes files under dir (created if missing), each at its
// Path; nothing is written outside dir, through links either.
func WriteFiles(dir string, files []File) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("writing SBOM files: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("writing SBOM files: %w", err)
	}
	defer root.Close()
	for _, f := range files {
		if err := root.MkdirAll(path.Dir(f.Path), 0o755); err != nil {
			return fmt.Errorf("writing SBOM file %s: %w", filepath.Join(dir, f.Path), err)
		}
		if err := root.WriteFile(f.Path, f.Data, 0o644); err != nil {
			return fmt.Errorf("writing SBOM file %s: %w", filepath.Join(dir, f.Path), err)
		}
	}
	return nil
}

// appMetadata reads an app image's config and lifecycle label.
func appMetadata(img v1.Image) (*v1.ConfigFile, labels.Lifecycle, error) {
	var md labels.Lifecycle
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, md, fmt.Errorf("reading the image config: %w", err)
	}
	found, err := labels.Decode(cfg, labels.LifecycleMetadata, &md)
	if err != nil {
		return nil, md, err
	}
	if !found {
		return nil, md, fmt.Errorf("not a CNB app image: no %s label", labels.LifecycleMetadata)
	}
	return cfg, md, nil
}
