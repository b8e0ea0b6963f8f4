package prune

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/kiln-build/kiln/internal/cache"
	"github.com/kiln-build/kiln/internal/flock"
	"github.com/kiln-build/kiln/internal/workdir"
	"github.com/kiln-build/kiln/lifecycle/builder"
	"github.com/kiln-build/kiln/lifecycle/imageio"
)

// Kinds of what Run removes.
const (
	KindCache   = "layer cache"
	KindRootFS  = "root file system"
	KindWorkDir = "work dir left by a killed build"
	KindPartial = "partial unpack"
	KindIndex   = "launch check index of a run image"
)

// Options say what Run removes.
type Options struct {
	// CacheDir is kiln's cache root (rootfs/, layers/, work/).
	CacheDir string
	// Store, when set, has its unreferenced blobs removed.
	Store *imageio.LocalStore
	// StoreGrace keeps store blobs unreferenced for less than this long.
	StoreGrace time.Duration
	// StoreEvery skips the store's scan when the last one is more recent
	// (see imageio.PruneOptions.Every).
	StoreEvery time.Duration
	// Max caps the disk space of the layer caches and root file systems
	// together; zero or less: no cap.
	Max int64
	// All removes every layer cache and root file system not in use.
	All bool
	// Unused removes root file systems not used for this long; zero: none
	// for that reason.
	Unused time.Duration
	// NoWait skips the store if another kiln is writing to it.
	NoWait bool
}

// Item is a layer cache or root file system that may be removed.
type Item struct {
	Kind    string
	Path    string
	Size    int64
	LastUse time.Time
}

// Removed is something Run removed.
type Removed struct {
	Kind  string
	Path  string
	Freed int64
}

// Report says what Run did.
type Report struct {
	Removed []Removed
	// Busy are items that were to go but are in use.
	Busy []Item
	// StoreBlobs and StoreFreed are what went from the local store.
	StoreBlobs int
	StoreFreed int64
	// Size is the disk space the layer caches and root file systems take
	// afterwards.
	Size int64
	// Errors are what could not be removed, and why.
	Errors []error
}

// Freed is the disk space Run freed in all.
func (r Report) Freed() int64 {
	n := r.StoreFreed
	for _, x := range r.Removed {
		n += x.Freed
	}
	return n
}

// Run prunes as o says. Errors removing single items are in the report;
// the error is for what stopped the run (ctx).
func Run(ctx context.Context, o Options) (Report, error) {
	var r Report
	layers := filepath.Join(o.CacheDir, "layers")
	rootfs := filepath.Join(o.CacheDir, "rootfs")
	for _, s := range workdir.Clean(filepath.Join(o.CacheDir, "work"), workdir.BeforeRemove(func(dir string) error {
		return cache.Reclaim(ctx, layers, dir)
	})) {
		if s.Err != nil {
			if !errors.Is(s.Err, flock.ErrBusy) {
				r.Errors = append(r.Errors, s.Err)
			}
			continue
		}
		r.Removed = append(r.Removed, Removed{Kind: KindWorkDir, Path: s.Dir, Freed: s.Size})
	}
	if n := builder.CleanPartial(rootfs); n > 0 {
		r.Removed = append(r.Removed, Removed{Kind: KindPartial, Path: rootfs, Freed: n})
	}
	items, err := list(layers, rootfs)
	if err != nil {
		r.Errors = append(r.Errors, err)
	}
	var drop []Item
	switch {
	case o.All:
		drop = items
	case o.Unused > 0:
		for _, it := range items {
			if it.Kind == KindRootFS && time.Since(it.LastUse) > o.Unused {
				drop = append(drop, it)
			}
		}
	}
	r.apply(ctx, drop, -1)
	// The launch check's run image indexes go with the root file systems:
	// all of them with All, those unused for Unused.
	indexes := filepath.Join(o.CacheDir, "launchcheck")
	if o.All || o.Unused > 0 {
		r.pruneIndexes(indexes, o)
	}
	// The dirs that hold the items, the lock and size files beside the
	// root file systems and the launch check's indexes take some space
	// too.
	fixed := overhead(layers, rootfs, indexes)
	r.Size = fixed
	var left []Item
	for _, it := range items {
		if !r.gone(it) {
			left = append(left, it)
			r.Size += it.Size
		}
	}
	if o.Max > 0 {
		r.apply(ctx, left, max(o.Max-fixed, 0))
	}
	if o.Store != nil && ctx.Err() == nil {
		res, err := o.Store.Prune(ctx, imageio.PruneOptions{Grace: o.StoreGrace, NoWait: o.NoWait, Every: o.StoreEvery})
		if err != nil && !errors.Is(err, flock.ErrBusy) {
			r.Errors = append(r.Errors, err)
		}
		r.StoreBlobs, r.StoreFreed = res.Blobs, res.Freed
	}
	return r, ctx.Err()
}

// list returns the layer caches and root file systems.
func list(layers, rootfs string) ([]Item, error) {
	var items []Item
	cs, err := cache.List(layers)
	for _, c := range cs {
		items = append(items, Item{Kind: KindCache, Path: c.Dir, Size: c.Size, LastUse: c.LastUse})
	}
	fs, ferr := builder.ListRootFS(rootfs)
	for _, f := range fs {
		items = append(items, Item{Kind: KindRootFS, Path: f.Dir, Size: f.Size, LastUse: f.LastUse})
	}
	return items, errors.Join(err, ferr)
}

// overhead is the disk space of dirs themselves and of the files (not
// dirs) right in them.
func overhead(dirs ...string) int64 {
	var n int64
	for _, d := range dirs {
		fi, err := os.Lstat(d)
		if err != nil {
			continue
		}
		n += workdir.DiskBytes(fi)
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			if fi, err := e.Info(); err == nil {
				n += workdir.DiskBytes(fi)
			}
		}
	}
	return n
}

func (r *Report) gone(it Item) bool {
	for _, x := range r.Removed {
		if x.Path == it.Path {
			return true
		}
	}
	return false
}

// apply removes items, least recently used first, until the total of
// their sizes is at most max (max < 0: all of them). What is in use
// stays, and is reported as busy.
func (r *Report) apply(ctx context.Context, items []Item, max int64) {
	removed, busy, errs := Evict(items, max, func(it Item) (int64, error) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if it.Kind == KindCache {
			return cache.Evict(it.Path)
		}
		return builder.RemoveRootFS(it.Path)
	})
	r.Removed = append(r.Removed, removed...)
	r.Busy = append(r.Busy, busy...)
	r.Errors = append(r.Errors, errs...)
	for _, x := range removed {
		r.Size -= x.Freed
	}
}

// Evict removes items least recently used first, by calling remove, until
// the sizes of those left add up to at most max (max < 0: until none is
// left). An item remove reports busy (flock.ErrBusy) stays and still
// counts; one it fails on counts too.
func Evict(items []Item, max int64, remove func(Item) (int64, error)) (removed []Removed, busy []Item, errs []error) {
	order := append([]Item(nil), items...)
	sort.SliceStable(order, func(i, j int) bool {
		if !order[i].LastUse.Equal(order[j].LastUse) {
			return order[i].LastUse.Before(order[j].LastUse)
		}
		return order[i].Path < order[j].Path
	})
	var total int64
	for _, it := range order {
		total += it.Size
	}
	for _, it := range order {
		if max >= 0 && total <= max {
			break
		}
		freed, err := remove(it)
		switch {
		case errors.Is(err, flock.ErrBusy):
			busy = append(busy, it)
			continue
		case err != nil:
			errs = append(errs, fmt.Errorf("removing %s %s: %w", it.Kind, it.Path, err))
			if freed <= 0 {
				continue
			}
		}
		if freed < it.Size || err != nil {
			total -= freed
		} else {
			total -= it.Size
		}
		removed = append(removed, Removed{Kind: it.Kind, Path: it.Path, Freed: freed})
	}
	return removed, busy, errs
}

// pruneIndexes removes the launch check's run image indexes in dir that
// were not used for o.Unused (every one with o.All).
func (r *Report) pruneIndexes(dir string, o Options) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() || (!o.All && time.Since(fi.ModTime()) <= o.Unused) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.Remove(p); err != nil {
			r.Errors = append(r.Errors, err)
			continue
		}
		r.Removed = append(r.Removed, Removed{Kind: KindIndex, Path: p, Freed: workdir.DiskBytes(fi)})
	}
}
