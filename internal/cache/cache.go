package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/internal/beneath"
	"github.com/kiln-build/kiln/internal/export"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/labels"
	"github.com/kiln-build/kiln/lifecycle/launch"
)

// Metadata is the cache's index, in the shape of the lifecycle label's
// buildpacks section.
type Metadata struct {
	Buildpacks []labels.BuildpackEntry `json:"buildpacks"`
	// Trees are the dir cache's layer contents ("id:name"): directories
	// moved in and out of builds by rename, checked by fingerprint.
	Trees map[string]Tree `json:"trees,omitempty"`
	// Image is the manifest digest of the cache image whose layers the
	// Trees are (WithImage only). It is written, with the layers' diffIDs,
	// once that image is in the registry, and never before: a generation
	// that claims no digest, or another than the registry's, is not
	// restored from (image.go).
	Image string `json:"image,omitempty"`
	// Deltas are, per layer ("id:name"), the diffIDs of the cache image's
	// layers that go over the one of its SHA, in order, to make its tree
	// (delta.go); image cache only.
	Deltas map[string][]string `json:"deltas,omitempty"`
}

// Tree is one cached layer directory.
type Tree struct {
	Dir         string `json:"dir"`
	Fingerprint string `json:"fingerprint"`
}

// Cache is one app's layer cache.
type Cache struct {
	dir  string
	lock *os.File
	// image, when set, also keeps the cache in a registry image: dir
	// holds this machine's copy, used when it is that image's (image.go).
	image *imageCache
	// local says Restore takes contents from dir's trees: no image, or the
	// image the committed generation says it equals.
	local bool
	// restored remembers each restored layer's state and cache image
	// layers (image cache), so Save pushes only what changed.
	restored map[string]restoredLayer
	// moved are the trees Restore renamed out of committed/: layer dir ->
	// where it came from, for GiveBack.
	moved map[string]movedTree
}

// movedTree is where a tree moved into a build came from, the build's
// layers dir it went into, and its fingerprint.
type movedTree struct{ key, from, layers, fingerprint string }

// restoredLayer is a layer as Restore left it in a build of an image
// cache: its tree's fingerprint and listing, and the diffIDs of the cache
// image's layers that make it (its SHA, then its deltas).
type restoredLayer struct {
	fingerprint string
	listing     *archive.Listing
	chain       []string
}

// chain is the diffIDs that make layer key of md in the cache image.
func (md Metadata) chain(key string, lm labels.LayerMetadata) []string {
	return append([]string{lm.SHA}, md.Deltas[key]...)
}

// listTree lists the tree at dir, which must be a directory (not a link
// to one), and fingerprints it in the same walk.
func listTree(ctx context.Context, dir string) (*archive.Listing, string, error) {
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil, "", err
	}
	if !fi.IsDir() {
		return nil, "", fmt.Errorf("%s is not a directory", dir)
	}
	l, err := archive.List(ctx, dir)
	if err != nil {
		return nil, "", err
	}
	return l, l.TreeFingerprint(), nil
}

// Option configures Open.
type Option func(*Cache)

// Open locks and opens the cache at dir, creating it if needed. Close
// releases the lock.
func Open(ctx context.Context, dir string, opts ...Option) (*Cache, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating cache %s: %w", dir, err)
	}
	c := &Cache{dir: dir, restored: map[string]restoredLayer{}, moved: map[string]movedTree{}}
	for _, o := range opts {
		o(c)
	}
	if err := c.takeLock(ctx); err != nil { // and put in order what a killed build left
		return nil, err
	}
	return c, nil
}

// Close releases the cache lock.
func (c *Cache) Close() error {
	err := c.endJournal() // a live build leaves nothing to replay
	if cerr := c.lock.Close(); err == nil {
		err = cerr
	}
	return err
}

// Dir is the cache directory.
func (c *Cache) Dir() string { return c.dir }

// Clear empties the cache.
func (c *Cache) Clear() error {
	if c.image != nil {
		c.image.clear()
	}
	for _, d := range []string{"committed", "staging"} {
		if err := os.RemoveAll(filepath.Join(c.dir, d)); err != nil {
			return fmt.Errorf("clearing cache: %w", err)
		}
	}
	return nil
}

// Metadata reads the committed index; an empty cache has none. An image
// cache reads its image (once) with ctx.
func (c *Cache) Metadata(ctx context.Context) (Metadata, error) {
	if c.image != nil {
		return c.image.metadata(ctx)
	}
	return c.dirMetadata()
}

// dirMetadata reads the dir cache's committed index.
func (c *Cache) dirMetadata() (Metadata, error) {
	var m Metadata
	b, err := os.ReadFile(filepath.Join(c.dir, "committed", "metadata.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return m, fmt.Errorf("reading cache metadata: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return Metadata{}, fmt.Errorf("reading cache metadata %s: %w", filepath.Join(c.dir, "committed", "metadata.json"), err)
	}
	return m, nil
}

// RestoreOptions describe where cached layers go.
type RestoreOptions struct {
	// LayersDir is the build's layers dir (host path).
	LayersDir string
	// Group is the detected group: only its buildpacks get layers back.
	Group []descriptor.GroupEntry
	// AnyBuildpack restores the layers of every buildpack the cache or
	// the previous image knows, in place of Group: for a build that
	// restores before it detects, and then removes the dirs of the
	// buildpacks detect did not choose.
	AnyBuildpack bool
	// Previous is the lifecycle metadata of the app's previous image, if
	// any; its layer metadata wins over the cache's.
	Previous *labels.Lifecycle
	// Owner owns restored files when kiln runs as root.
	Owner *archive.Owner
	// LayersPrefix is where the layers dir sits in cached tars (as in the
	// app image: "layers"); default "layers".
	LayersPrefix string
	// Warn receives problems that skip an entry.
	Warn func(format string, a ...any)
}

// Restored says what Restore put back.
type Restored struct {
	// Contents are the layers restored with their contents (id:name).
	Contents []string
	// MetadataOnly are launch layers whose metadata came back from the
	// previous image without contents: a buildpack that finds them
	// unchanged keeps them, and export reuses the previous image's layer.
	MetadataOnly []string
}

// knownBuildpacks are the buildpacks of the lists, each once, in the
// order they first appear. The ids come from image labels, which others
// may have written: one that is not a valid buildpack id (it becomes a dir
// name under the layers dir) is skipped.
func knownBuildpacks(lists ...[]labels.BuildpackEntry) []descriptor.GroupEntry {
	var out []descriptor.GroupEntry
	seen := map[string]bool{}
	for _, l := range lists {
		for _, bp := range l {
			if descriptor.ValidateID(bp.Key) != nil {
				continue
			}
			if !seen[bp.Key] {
				seen[bp.Key] = true
				out = append(out, descriptor.GroupEntry{ID: bp.Key, Version: bp.Version})
			}
		}
	}
	return out
}

// find is the entry of buildpack id in bps, nil when there is none.
func find(bps []labels.BuildpackEntry, id string) *labels.BuildpackEntry {
	for i := range bps {
		if bps[i].Key == id {
			return &bps[i]
		}
	}
	return nil
}

// Restore applies the spec's restore rules to the group's buildpacks:
// launch-only layers get their metadata back from the previous image;
// launch+cache layers get metadata and contents when the cache holds the
// same diffID as the previous image, else nothing; cache-only layers come
// back from the cache; store.toml comes from the previous image. An entry
// whose cached tar is missing or does not match its diffID is skipped with
// a warning.
func (c *Cache) Restore(ctx context.Context, o RestoreOptions) (Restored, error) {
	var out Restored
	md, err := c.index(ctx)
	if err != nil {
		o.Warn("cache: %v; starting without it", err)
		md = Metadata{}
	}
	var prevBPs []labels.BuildpackEntry
	if o.Previous != nil {
		prevBPs = o.Previous.Buildpacks
	}
	group := o.Group
	if o.AnyBuildpack {
		group = knownBuildpacks(md.Buildpacks, prevBPs)
	}
	for _, g := range group {
		cached, prev := find(md.Buildpacks, g.ID), find(prevBPs, g.ID)
		names := map[string]bool{}
		if cached != nil {
			for n := range cached.Layers {
				names[n] = true
			}
		}
		if prev != nil {
			for n := range prev.Layers {
				names[n] = true
			}
			if prev.Store != nil && len(prev.Store.Metadata) > 0 {
				if err := c.writeStore(o, g.ID, prev.Store); err != nil {
					return out, err
				}
			}
		}
		sorted := make([]string, 0, len(names))
		for n := range names {
			sorted = append(sorted, n)
		}
		sort.Strings(sorted)
		for _, name := range sorted {
			if !oneElement(name) {
				// Names come from labels of images kiln did not
				// necessarily make: one that is no plain file name would
				// lead the writes out of the buildpack's dir.
				o.Warn("cache: skipping layer %s:%q: not a layer name", g.ID, name)
				continue
			}
			var p, cl labels.LayerMetadata
			inPrev, inCache := false, false
			if prev != nil {
				p, inPrev = prev.Layers[name]
			}
			if cached != nil {
				cl, inCache = cached.Layers[name]
				inCache = inCache && cl.Cache
			}
			ref := g.ID + ":" + name
			switch {
			case inPrev && p.Launch && !p.Cache:
				if err := c.writeLayerTOML(o, g.ID, name, p.Data); err != nil {
					return out, err
				}
				out.MetadataOnly = append(out.MetadataOnly, ref)
				continue
			case inPrev && p.Launch && p.Cache:
				if !inCache || cl.SHA != p.SHA {
					continue
				}
				cl.Data = p.Data
			case !inCache:
				continue
			}
			if err := c.restoreLayer(ctx, o, md, g.ID, name, cl); err != nil {
				if ctx.Err() != nil {
					return out, ctx.Err()
				}
				if errors.Is(err, errTreeGone) {
					continue
				}
				o.Warn("cache: skipping layer %s: %v", ref, err)
				continue
			}
			out.Contents = append(out.Contents, ref)
		}
	}
	return out, nil
}

func (c *Cache) writeLayerTOML(o RestoreOptions, id, name string, data map[string]any) error {
	return writeOwned(o, id, name+".toml", func(p string) error {
		return launch.WriteLayerMetadataOnly(p, launch.Layer{Metadata: data})
	})
}

func (c *Cache) writeStore(o RestoreOptions, id string, st *labels.Store) error {
	return writeOwned(o, id, "store.toml", func(p string) error {
		return launch.WriteStore(p, launch.Store{Metadata: st.Metadata})
	})
}

// writeOwned writes the file name of buildpack id's dir in the layers dir
// with write, and gives it to the build's user.
func writeOwned(o RestoreOptions, id, name string, write func(p string) error) error {
	bpDir := filepath.Join(o.LayersDir, descriptor.EscapeID(id))
	if err := mkdirOwned(bpDir, o.Owner); err != nil {
		return err
	}
	p := filepath.Join(bpDir, name)
	if err := write(p); err != nil {
		return err
	}
	if o.Owner != nil {
		return os.Chown(p, o.Owner.UID, o.Owner.GID)
	}
	return nil
}

func (c *Cache) restoreLayer(ctx context.Context, o RestoreOptions, md Metadata, id, name string, lm labels.LayerMetadata) (err error) {
	bpDir := filepath.Join(o.LayersDir, descriptor.EscapeID(id))
	dest := filepath.Join(bpDir, name)
	key := id + ":" + name
	if c.image == nil {
		_, err := c.restoreTree(ctx, o, md, id, name, lm)
		return err
	}
	if c.local {
		// This machine holds the cache image's layers as trees: they move
		// in by rename, and Save knows what changed by their listing.
		listing, terr := c.restoreTree(ctx, o, md, id, name, lm)
		if terr == nil {
			c.restored[key] = restoredLayer{fingerprint: c.moved[dest].fingerprint, listing: listing, chain: md.chain(key, lm)}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// The tree is gone (a killed build changed it) or not as saved:
		// the cache image has the layer.
	}
	chain := md.chain(key, lm)
	if len(chain) > 1+maxDeltas {
		// The index comes from a registry: a save never makes a longer
		// chain, and each of its layers would be fetched and extracted.
		return fmt.Errorf("the cache image names %d layers for it, more than kiln makes (%d)", len(chain), 1+maxDeltas)
	}
	layers, err := c.image.layers(chain)
	if err != nil {
		return err
	}
	// The tars hold the layer dir as the app image does:
	// <prefix>/<escaped id>/<name>/...
	staging, err := os.MkdirTemp(o.LayersDir, ".restore-")
	if err != nil {
		return err
	}
	defer func() {
		if rerr := removeTree(staging); rerr != nil {
			err = errors.Join(err, fmt.Errorf("removing %s: %w", staging, rerr))
		}
	}()
	// A registry's layers may unpack to anything: a bound keeps a
	// compression bomb from filling the disk.
	bound := archive.ExtractOptions{MaxBytes: maxRestoreBytes, MaxEntries: maxRestoreEntries}
	if err := archive.ExtractLayers(ctx, layers, staging, bound); err != nil {
		return fmt.Errorf("extracting cached layer %s: %w", lm.SHA, err)
	}
	// The tars come from a registry: the layer dir and its parents must
	// be directories there, not links a tar put on the way (to a host
	// directory the rename would move into the build).
	extracted := beneath.New(staging, nil)
	rel := filepath.Join(prefixOr(o.LayersPrefix), descriptor.EscapeID(id), name)
	if err := extracted.CheckDir(rel); err != nil {
		return fmt.Errorf("cached layer %s: %w", lm.SHA, err)
	}
	if o.Owner != nil {
		// The tar holds the container's ids; the host's are those the
		// build's user namespace maps them to.
		if _, err := chownTree(extracted.Path(rel), *o.Owner); err != nil {
			return fmt.Errorf("extracting cached layer %s: %w", lm.SHA, err)
		}
	}
	if err := mkdirOwned(bpDir, o.Owner); err != nil {
		return err
	}
	if err := os.RemoveAll(dest); err != nil {
		return fmt.Errorf("restoring %s: clearing the way: %w", dest, err)
	}
	if err := extracted.RenameOut(rel, dest); err != nil {
		return fmt.Errorf("restoring %s: %w", dest, err)
	}
	if err := c.writeLayerTOML(o, id, name, lm.Data); err != nil {
		if rerr := os.RemoveAll(dest); rerr != nil {
			return errors.Join(err, fmt.Errorf("removing the half-restored %s: %w", dest, rerr))
		}
		return err
	}
	// Remember the tree's state, so Save can tell it is unchanged and
	// reuse the cached layers, or push only what changed; one that cannot
	// be listed is saved again instead.
	if listing, fp, err := listTree(ctx, dest); err == nil {
		c.restored[key] = restoredLayer{fingerprint: fp, listing: listing, chain: chain}
	}
	return nil
}

// mkdirOwned makes the directory p unless it is one. What a build left
// there instead (a symlink, a file) is refused, never followed.
func mkdirOwned(p string, o *archive.Owner) error {
	if fi, err := os.Lstat(p); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("restoring into %s: it is not a directory (%s); refusing to write through it", p, fi.Mode().Type())
		}
		return nil
	}
	if err := os.MkdirAll(p, 0o755); err != nil {
		return err
	}
	if o != nil {
		return os.Chown(p, o.UID, o.GID)
	}
	return nil
}

// SaveOptions describe what a finished build leaves to cache.
type SaveOptions struct {
	LayersDir string
	Group     []descriptor.GroupEntry
	// Owner is written into the tars (the CNB user).
	Owner   archive.Owner
	ModTime time.Time
	// LayersPrefix is where the layers dir sits in the tars; default
	// "layers", as in the app image.
	LayersPrefix string
	// Exported are the app image's layers of launch+cache layers
	// ("id:name"): the cache keeps those very bytes instead of tarring the
	// dir again.
	Exported map[string]v1.Layer
}

// oneElement says whether name is a single, plain path element: no
// separator, not empty, "." or "..".
func oneElement(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, `/\`) && !strings.ContainsRune(name, 0)
}

// What one cached layer restored from a cache image may unpack to: far
// above a toolchain or a dependency tree, far below a full disk (variables
// for tests).
var (
	maxRestoreBytes   int64 = 16 << 30
	maxRestoreEntries       = 2_000_000
)

func prefixOr(p string) string {
	if p == "" {
		return "layers"
	}
	return p
}

// cachedLayer is one cache = true layer a finished build leaves.
type cachedLayer struct {
	id, name, dir string
	meta          labels.LayerMetadata
	// unchanged are the diffIDs of the cache image's layers that make it
	// when it is as restored (image cache).
	unchanged []string
	// fp is its fingerprint, when collect took it.
	fp string
	// listing is its tree as collect listed it, and base the restored
	// layer it changed from (image cache): what a delta is made of.
	listing *archive.Listing
	base    *restoredLayer
}

// collect lists the group's cache = true layers.
func (c *Cache) collect(ctx context.Context, o SaveOptions) ([]cachedLayer, []labels.BuildpackEntry, error) {
	var out []cachedLayer
	var bps []labels.BuildpackEntry
	for _, g := range o.Group {
		bpDir := filepath.Join(o.LayersDir, descriptor.EscapeID(g.ID))
		names, err := export.LayerNames(bpDir)
		if err != nil {
			return nil, nil, fmt.Errorf("saving cache: %w", err)
		}
		if names == nil {
			continue
		}
		bps = append(bps, labels.BuildpackEntry{Key: g.ID, Version: g.Version, Layers: map[string]labels.LayerMetadata{}})
		for _, name := range names {
			lt, err := launch.ReadLayer(filepath.Join(bpDir, name+".toml"))
			if err != nil {
				return nil, nil, fmt.Errorf("saving cache: %w", err)
			}
			dir := filepath.Join(bpDir, name)
			if !lt.Types.Cache {
				continue
			}
			fi, err := os.Lstat(dir)
			if errors.Is(err, fs.ErrNotExist) || err == nil && !fi.IsDir() {
				continue // no contents to keep
			}
			if err != nil {
				return nil, nil, fmt.Errorf("saving cache: %w", err)
			}
			cl := cachedLayer{id: g.ID, name: name, dir: dir,
				meta: labels.LayerMetadata{Data: lt.Metadata, Build: lt.Types.Build, Launch: lt.Types.Launch, Cache: true}}
			// Only the image cache asks whether a layer is as restored: the
			// dir cache moves the tree whatever it holds.
			if r, ok := c.restored[g.ID+":"+name]; ok && c.image != nil {
				if listing, fp, err := listTree(ctx, dir); err == nil {
					cl.fp, cl.listing = fp, listing
					if fp == r.fingerprint {
						cl.unchanged = r.chain
					} else {
						cl.base = &r
					}
				}
			}
			out = append(out, cl)
		}
	}
	return out, bps, nil
}

// Save replaces the cache with the group's cache = true layers. The
// layer directories themselves move into the dir cache (by rename: the
// build is over). With an image, the layers that changed since restore
// are first tarred (or only what changed in them: delta.go) while the
// trees are still in the build; after the move the image is pushed, and
// the local generation claims its digest once the registry has it.
func (c *Cache) Save(ctx context.Context, o SaveOptions) error {
	layers, bps, err := c.collect(ctx, o)
	if err != nil {
		return err
	}
	if c.image == nil {
		_, err := c.saveTrees(layers, bps, o)
		return err
	}
	tmp, err := os.MkdirTemp("", "kiln-cache-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	chains, cerr := c.image.chains(ctx, layers, tmp, o)
	// The trees are kept here even when they cannot be pushed.
	md, err := c.saveTrees(layers, bps, o)
	if err != nil || cerr != nil {
		return errors.Join(cerr, err)
	}
	d, err := c.image.save(ctx, layers, chains, &md, o)
	if err != nil {
		return err // the local generation claims no image
	}
	md.Image = d
	return writeMetadata(c.path(committedName), md)
}

// saveLocal saves into the dir cache alone (a replay of a dead build:
// nothing is pushed, and the generation claims no image).
func (c *Cache) saveLocal(ctx context.Context, o SaveOptions) error {
	layers, bps, err := c.collect(ctx, o)
	if err != nil {
		return err
	}
	_, err = c.saveTrees(layers, bps, o)
	return err
}

// saveTrees moves the layers' directories into a new generation of the
// dir cache and swaps it in. The new index claims no cache image.
func (c *Cache) saveTrees(layers []cachedLayer, bps []labels.BuildpackEntry, o SaveOptions) (Metadata, error) {
	staging := filepath.Join(c.dir, "staging")
	if err := os.RemoveAll(staging); err != nil {
		return Metadata{}, fmt.Errorf("saving cache: clearing what an earlier save left: %w", err)
	}
	if err := os.MkdirAll(staging, 0o755); err != nil {
		return Metadata{}, fmt.Errorf("saving cache: %w", err)
	}
	md := Metadata{Trees: map[string]Tree{}}
	for i := range layers {
		l := &layers[i]
		key := l.id + ":" + l.name
		if len(l.unchanged) > 0 {
			l.meta.SHA = l.unchanged[0]
		}
		if el := o.Exported[key]; el != nil && len(l.unchanged) == 0 {
			d, err := el.DiffID()
			if err != nil {
				return Metadata{}, fmt.Errorf("saving cache layer %s: %w", key, err)
			}
			l.meta.SHA = d.String()
		}
		fp := l.fp
		if fp == "" {
			var err error
			if fp, err = archive.Fingerprint(l.dir, nil, ""); err != nil {
				return Metadata{}, fmt.Errorf("saving cache layer %s: %w", key, err)
			}
		}
		// The build is over and exported: the layer dir moves into the
		// cache as it is, no bytes copied.
		tree := Tree{Dir: fmt.Sprintf("%d.d", i), Fingerprint: fp}
		if err := c.journalSave(o.LayersDir, *l, find(bps, l.id).Version, tree); err != nil {
			return Metadata{}, fmt.Errorf("saving cache layer %s: %w", key, err)
		}
		if err := os.Rename(l.dir, filepath.Join(staging, tree.Dir)); err != nil {
			return Metadata{}, fmt.Errorf("saving cache layer %s: %w", key, err)
		}
		md.Trees[key] = tree
		find(bps, l.id).Layers[l.name] = l.meta
	}
	for _, bp := range bps {
		if len(bp.Layers) > 0 {
			md.Buildpacks = append(md.Buildpacks, bp)
		}
	}
	b, err := json.Marshal(md)
	if err != nil {
		return Metadata{}, err
	}
	if err := os.WriteFile(filepath.Join(staging, "metadata.json"), b, 0o644); err != nil {
		return Metadata{}, fmt.Errorf("saving cache: %w", err)
	}
	c.moved = map[string]movedTree{} // nothing to give back any more
	c.restored = map[string]restoredLayer{}
	// Swap generations.
	if err := c.swap(staging); err != nil {
		return Metadata{}, err
	}
	return md, c.endSave()
}

// swap makes staging the committed generation. A failure midway puts the
// old generation back, or says that it could not.
func (c *Cache) swap(staging string) error {
	committed := filepath.Join(c.dir, "committed")
	old := filepath.Join(c.dir, "old")
	if err := os.RemoveAll(old); err != nil {
		return fmt.Errorf("saving cache: removing the generation before last: %w", err)
	}
	if err := os.Rename(committed, old); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("saving cache: %w", err)
	}
	if err := os.Rename(staging, committed); err != nil {
		if rerr := os.Rename(old, committed); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return fmt.Errorf("saving cache: %w; putting the previous cache back failed too (the next build starts without it): %v", err, rerr)
		}
		return fmt.Errorf("saving cache: %w", err)
	}
	if err := os.RemoveAll(old); err != nil {
		return fmt.Errorf("saving cache: the new cache is in place, but removing the old one failed: %w", err)
	}
	return nil
}
