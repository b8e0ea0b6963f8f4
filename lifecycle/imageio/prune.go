package imageio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/internal/flock"
	"github.com/kiln-build/kiln/internal/workdir"
)

// unreferencedName records when each blob was first seen unreferenced.
const unreferencedName = ".kiln-unreferenced.json"

// scannedName's time is when Prune last scanned the store (see Every).
const scannedName = ".kiln-scanned"

// ErrStoreBusy says Prune did not wait for a writer of the store.
var ErrStoreBusy = flock.ErrBusy

// PruneOptions tune LocalStore.Prune.
type PruneOptions struct {
	// Grace keeps a blob until it has been unreferenced for this long, so
	// a reader that opened an image just replaced can still read it
	// (automatic pruning after builds); zero removes at once.
	Grace time.Duration
	// NoWait skips the prune (ErrStoreBusy) instead of waiting while
	// another kiln writes to the store.
	NoWait bool
	// Every, when set, skips the scan (it reads every manifest and lists
	// every blob) when the last one ended less than this long ago: the
	// pruning after each build need not scan more often than its Grace
	// lets blobs go.
	Every time.Duration
}

// PruneResult says what Prune removed.
type PruneResult struct {
	Blobs int
	Freed int64
}

// Prune removes the blobs that no image named in the store's index
// refers to: those of replaced and removed images, and temp files a killed
// write left. It holds the store's write lock meanwhile.
func (s *LocalStore) Prune(ctx context.Context, o PruneOptions) (PruneResult, error) {
	var res PruneResult
	stamp := filepath.Join(s.dir, scannedName)
	if fi, err := os.Stat(stamp); err == nil && o.Every > 0 && time.Since(fi.ModTime()) < o.Every {
		return res, nil
	}
	lockPath := filepath.Join(s.dir, ".lock")
	var f *os.File
	var err error
	if o.NoWait {
		f, err = flock.TryLock(lockPath, true)
	} else {
		f, err = flock.Lock(ctx, lockPath, true)
	}
	if err != nil {
		return res, fmt.Errorf("pruning local store %s: %w", s.dir, err)
	}
	defer f.Close()
	keep, err := referencedBlobs(s.dir)
	if err != nil {
		return res, fmt.Errorf("pruning local store %s: %w", s.dir, err)
	}
	blobs := filepath.Join(s.dir, "blobs", "sha256")
	entries, err := os.ReadDir(blobs)
	if errors.Is(err, fs.ErrNotExist) {
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("pruning local store %s: %w", s.dir, err)
	}
	seen := readUnreferenced(s.dir)
	now := time.Now()
	next := map[string]int64{}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		name := e.Name()
		if keep[name] {
			continue
		}
		if o.Grace > 0 && workdir.IsDigestHex(name) {
			first, ok := seen[name]
			if !ok {
				first = now.Unix()
			}
			if now.Sub(time.Unix(first, 0)) < o.Grace {
				next[name] = first
				continue
			}
		}
		p := filepath.Join(blobs, name)
		var size int64
		if fi, err := os.Lstat(p); err == nil {
			size = workdir.DiskBytes(fi)
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return res, fmt.Errorf("pruning local store: %w", err)
		}
		res.Blobs++
		res.Freed += size
	}
	writeUnreferenced(s.dir, next)
	if err := os.WriteFile(stamp, nil, 0o644); err == nil {
		os.Chtimes(stamp, now, now) // an existing stamp is not rewritten
	}
	return res, nil
}

// referencedBlobs are the hex digests of every manifest, index, config and
// layer the store's index leads to. It reads each manifest once, straight
// from its blob.
func referencedBlobs(dir string) (map[string]bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return nil, err
	}
	top, err := v1.ParseIndexManifest(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(dir, "index.json"), err)
	}
	keep := map[string]bool{}
	blob := func(h v1.Hash) ([]byte, error) {
		return os.ReadFile(filepath.Join(dir, "blobs", h.Algorithm, h.Hex))
	}
	var walk func(ds []v1.Descriptor) error
	walk = func(ds []v1.Descriptor) error {
		for _, d := range ds {
			if keep[d.Digest.Hex] {
				continue
			}
			keep[d.Digest.Hex] = true
			switch {
			case d.MediaType.IsIndex():
				b, err := blob(d.Digest)
				if err != nil {
					return fmt.Errorf("reading index %s: %w", d.Digest, err)
				}
				im, err := v1.ParseIndexManifest(bytes.NewReader(b))
				if err != nil {
					return fmt.Errorf("reading index %s: %w", d.Digest, err)
				}
				if err := walk(im.Manifests); err != nil {
					return err
				}
			case d.MediaType.IsImage():
				b, err := blob(d.Digest)
				if err != nil {
					return fmt.Errorf("reading manifest %s: %w", d.Digest, err)
				}
				m, err := v1.ParseManifest(bytes.NewReader(b))
				if err != nil {
					return fmt.Errorf("reading manifest %s: %w", d.Digest, err)
				}
				keep[m.Config.Digest.Hex] = true
				for _, l := range m.Layers {
					keep[l.Digest.Hex] = true
				}
			}
		}
		return nil
	}
	return keep, walk(top.Manifests)
}

func readUnreferenced(dir string) map[string]int64 {
	m := map[string]int64{}
	if b, err := os.ReadFile(filepath.Join(dir, unreferencedName)); err == nil {
		json.Unmarshal(b, &m)
	}
	return m
}

func writeUnreferenced(dir string, m map[string]int64) {
	p := filepath.Join(dir, unreferencedName)
	if len(m) == 0 {
		os.Remove(p)
		return
	}
	b, err := json.Marshal(m)
	if err != nil {
		return
	}
	if os.WriteFile(p+".tmp", b, 0o644) == nil {
		os.Rename(p+".tmp", p)
	}
}
