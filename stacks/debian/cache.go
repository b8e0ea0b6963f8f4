package debian

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// Names inside the cache directory. Entries are OCI layouts named by
// recipe key; work directories start with a dot and are renamed or
// removed when a build ends.
const (
	partialPrefix = ".partial-"
	oldPrefix     = ".old-"
	recipeFile    = "recipe.json"
	staleAfter    = 24 * time.Hour
)

// loadCached opens the image cached at dir. It returns fs.ErrNotExist
// when there is no entry.
func loadCached(dir string) (v1.Image, error) {
	if _, err := os.Stat(filepath.Join(dir, "index.json")); err != nil {
		return nil, err
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("opening cached stack image %s: %w", dir, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("opening cached stack image %s: %w", dir, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(dir, "index.json"), err)
	}
	if len(m.Manifests) != 1 {
		return nil, fmt.Errorf("reading %s: %d manifests, want 1", filepath.Join(dir, "index.json"), len(m.Manifests))
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		return nil, fmt.Errorf("opening cached stack image %s: %w", dir, err)
	}
	// Reading the config checks that the entry is whole enough to use.
	if _, err := img.ConfigFile(); err != nil {
		return nil, fmt.Errorf("reading cached stack image config in %s: %w", dir, err)
	}
	return img, nil
}

// writeLayout saves img and the recipe as an OCI layout at dir.
func writeLayout(dir string, img v1.Image, recipeJSON []byte) error {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("creating OCI layout %s: %w", dir, err)
	}
	if err := p.AppendImage(img); err != nil {
		return fmt.Errorf("writing image to OCI layout %s: %w", dir, err)
	}
	if err := os.WriteFile(filepath.Join(dir, recipeFile), recipeJSON, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Join(dir, recipeFile), err)
	}
	return nil
}

// publish moves the finished layout at src to dst in one rename. When
// replace is false and another build got there first, its entry is kept
// and src discarded. When replace is true an existing entry is swapped out.
func publish(src, dst string, replace bool) error {
	err := os.Rename(src, dst)
	if err == nil {
		return nil
	}
	if !isExist(err) {
		return fmt.Errorf("moving stack image into cache at %s: %w", dst, err)
	}
	if !replace {
		return nil
	}
	old, err := os.MkdirTemp(filepath.Dir(dst), oldPrefix)
	if err != nil {
		return fmt.Errorf("replacing cached stack image %s: %w", dst, err)
	}
	aside := filepath.Join(old, "entry")
	if err := os.Rename(dst, aside); err != nil {
		os.RemoveAll(old)
		return fmt.Errorf("replacing cached stack image %s: %w", dst, err)
	}
	if err := os.Rename(src, dst); err != nil {
		return fmt.Errorf("moving stack image into cache at %s: %w", dst, err)
	}
	if err := os.RemoveAll(old); err != nil {
		return fmt.Errorf("removing replaced cache entry %s: %w", old, err)
	}
	return nil
}

func isExist(err error) bool {
	return errors.Is(err, fs.ErrExist) || errors.Is(err, syscall.ENOTEMPTY)
}

// sweep removes work directories that builds killed long ago left behind.
func sweep(cacheDir string) {
	entries, err := os.ReadDir(cacheDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), partialPrefix) && !strings.HasPrefix(e.Name(), oldPrefix) {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleAfter {
			os.RemoveAll(filepath.Join(cacheDir, e.Name()))
		}
	}
}
