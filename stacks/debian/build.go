package debian

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/stacks/debian/rootfs"
)

// Options control how Build runs.
type Options struct {
	// CacheDir holds built images as OCI layouts, one directory per
	// recipe key, and the work files of builds under way. Required.
	CacheDir string
	// Log receives mmdebstrap's output and kiln's progress lines
	// (default: discarded).
	Log io.Writer
	// Refresh builds even when the recipe is cached, and replaces the
	// cached image; use it to pick up updated packages.
	Refresh bool
	// Mmdebstrap is the program to run (default "mmdebstrap" from PATH).
	Mmdebstrap string
}

// Build returns the stack image described by r, from the cache when the
// same recipe was built before (unless opts.Refresh), else by running
// mmdebstrap and caching the result. The returned image is backed by the
// cache entry's files.
func Build(ctx context.Context, r Recipe, opts Options) (v1.Image, error) {
	if opts.CacheDir == "" {
		return nil, errors.New("building Debian stack image: Options.CacheDir is required")
	}
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	program := opts.Mmdebstrap
	if program == "" {
		program = "mmdebstrap"
	}
	r = r.normalize()
	if err := r.validate(); err != nil {
		return nil, err
	}
	key := r.Key()
	entry := filepath.Join(opts.CacheDir, key)

	if !opts.Refresh {
		img, err := loadCached(entry)
		switch {
		case err == nil:
			fmt.Fprintf(log, "kiln: stack image for %s %s is cached at %s\n", r.Suite, r.Variant, entry)
			return img, nil
		case errors.Is(err, fs.ErrNotExist):
		default:
			fmt.Fprintf(log, "kiln: warning: ignoring unusable cache entry: %v\n", err)
			opts.Refresh = true
		}
	}

	if err := os.MkdirAll(opts.CacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating stack cache directory %s: %w", opts.CacheDir, err)
	}
	sweep(opts.CacheDir)
	work, err := os.MkdirTemp(opts.CacheDir, partialPrefix+key[:12]+"-")
	if err != nil {
		return nil, fmt.Errorf("creating work directory in %s: %w", opts.CacheDir, err)
	}
	defer os.RemoveAll(work)

	started := time.Now()
	if err := build(ctx, r, program, work, log); err != nil {
		return nil, err
	}
	if err := publish(filepath.Join(work, "layout"), entry, opts.Refresh); err != nil {
		return nil, err
	}
	img, err := loadCached(entry)
	if err != nil {
		return nil, err
	}
	if d, err := img.Digest(); err == nil {
		fmt.Fprintf(log, "kiln: built stack image %s in %s, cached at %s\n", d, time.Since(started).Round(time.Second), entry)
	}
	return img, nil
}

// build runs mmdebstrap and turns its tarball into an OCI layout at
// work/layout.
func build(ctx context.Context, r Recipe, program, work string, log io.Writer) error {
	rootTar := filepath.Join(work, "rootfs.tar")
	sde := r.SourceDateEpoch
	if sde == 0 {
		sde = DefaultTime.Unix()
	}
	if msg := QemuMissing(r.Arch); msg != "" {
		return errors.New(msg)
	}
	if err := runMmdebstrap(ctx, program, r, rootTar, sde, log); err != nil {
		return err
	}
	if info, err := os.Stat(rootTar); err != nil || info.Size() == 0 {
		return fmt.Errorf("reading %s: %w", rootTar, errNoTar)
	}

	fmt.Fprintf(log, "kiln: rewriting the root file system into one layer\n")
	a, err := rootfs.Open(ctx, rootTar)
	if err != nil {
		return err
	}
	defer a.Close()
	f, err := inspect(a, r)
	if err != nil {
		return fmt.Errorf("inspecting %s: %w", rootTar, err)
	}
	if err := clean(a); err != nil {
		return fmt.Errorf("cleaning %s: %w", rootTar, err)
	}
	if err := removePatterns(a, r.Remove); err != nil {
		return err
	}
	if err := addUser(a, r, f.epoch); err != nil {
		return err
	}
	layerPath := filepath.Join(work, "layer.tar.gz")
	if err := writeLayer(ctx, a, layerPath, f.epoch); err != nil {
		return err
	}
	// The layer file holds everything now; free the disk early.
	a.Close()
	os.Remove(rootTar)

	img, err := assemble(r, layerPath, f)
	if err != nil {
		return err
	}
	recipeJSON, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding recipe: %w", err)
	}
	return writeLayout(filepath.Join(work, "layout"), img, append(recipeJSON, '\n'))
}
