package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/internal/archive"
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
}

// Tree is one cached layer directory.
type Tree struct {
	Dir         string `json:"dir"`
	Fingerprint string `json:"fingerprint"`
}

func (m Metadata) find(id string) *labels.BuildpackEntry {
	for i := range m.Buildpacks {
		if m.Buildpacks[i].Key == id {
			return &m.Buildpacks[i]
		}
	}
	return nil
}

// Cache is one app's layer cache.
type Cache struct {
	dir  string
	lock *os.File
	// image, when set, keeps the cache in a registry image instead of dir.
	image *imageCache
	// restored remembers each restored layer's fingerprint and diffID, so
	// an untouched layer is not tarred again on Save.
	restored map[string]restoredLayer
	// moved are the trees Restore renamed out of committed/: layer dir ->
	// where it came from, for GiveBack.
	moved map[string]movedTree
}

// movedTree is where a tree moved into a build came from, the build's
// layers dir it went into, and its fingerprint.
type movedTree struct{ key, from, layers, fingerprint string }

type restoredLayer struct{ fingerprint, diffID string }

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
	md, err := c.Metadata(ctx)
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
		cached, prev := md.find(g.ID), find(prevBPs, g.ID)
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
	bpDir := filepath.Join(o.LayersDir, descriptor.EscapeID(id))
	if err := mkdirOwned(bpDir, o.Owner); err != nil {
		return err
	}
	p := filepath.Join(bpDir, name+".toml")
	if err := launch.WriteLayerMetadataOnly(p, launch.Layer{Metadata: data}); err != nil {
		return err
	}
	if o.Owner != nil {
		return os.Chown(p, o.Owner.UID, o.Owner.GID)
	}
	return nil
}

func (c *Cache) writeStore(o RestoreOptions, id string, st *labels.Store) error {
	bpDir := filepath.Join(o.LayersDir, descriptor.EscapeID(id))
	if err := mkdirOwned(bpDir, o.Owner); err != nil {
		return err
	}
	p := filepath.Join(bpDir, "store.toml")
	if err := launch.WriteStore(p, launch.Store{Metadata: st.Metadata}); err != nil {
		return err
	}
	if o.Owner != nil {
		return os.Chown(p, o.Owner.UID, o.Owner.GID)
	}
	return nil
}

// open returns the contents of the cached layer diffID (image cache).
func (c *Cache) open(ctx context.Context, diffID string) (io.ReadCloser, error) {
	return c.image.open(diffID)
}

func (c *Cache) restoreLayer(ctx context.Context, o RestoreOptions, md Metadata, id, name string, lm labels.LayerMetadata) (err error) {
	bpDir := filepath.Join(o.LayersDir, descriptor.EscapeID(id))
	dest := filepath.Join(bpDir, name)
	if c.image == nil {
		return c.restoreTree(o, md, id, name, lm)
	}
	f, err := c.open(ctx, lm.SHA)
	if err != nil {
		return err
	}
	defer f.Close()
	// The tar holds the layer dir as the app image does:
	// <prefix>/<escaped id>/<name>/...
	staging, err := os.MkdirTemp(o.LayersDir, ".restore-")
	if err != nil {
		return err
	}
	defer func() {
		if rerr := os.RemoveAll(staging); rerr != nil {
			err = errors.Join(err, fmt.Errorf("removing %s: %w", staging, rerr))
		}
	}()
	if err := archive.Extract(ctx, f, staging, archive.ExtractOptions{}); err != nil {
		return fmt.Errorf("extracting cached layer %s: %w", lm.SHA, err)
	}
	if o.Owner != nil {
		// The tar holds the container's ids; the host's are those the
		// build's user namespace maps them to.
		if _, err := chownTree(staging, *o.Owner); err != nil {
			return fmt.Errorf("extracting cached layer %s: %w", lm.SHA, err)
		}
	}
	if err := mkdirOwned(bpDir, o.Owner); err != nil {
		return err
	}
	if err := os.RemoveAll(dest); err != nil {
		return fmt.Errorf("restoring %s: clearing the way: %w", dest, err)
	}
	if err := os.Rename(filepath.Join(staging, prefixOr(o.LayersPrefix), descriptor.EscapeID(id), name), dest); err != nil {
		return fmt.Errorf("restoring %s: %w", dest, err)
	}
	if err := c.writeLayerTOML(o, id, name, lm.Data); err != nil {
		if rerr := os.RemoveAll(dest); rerr != nil {
			return errors.Join(err, fmt.Errorf("removing the half-restored %s: %w", dest, rerr))
		}
		return err
	}
	// Remember the tree's state, so Save can tell it is unchanged and
	// reuse the cached layer; one that cannot be fingerprinted is saved
	// again instead.
	if fp, err := archive.Fingerprint(dest, nil, ""); err == nil {
		c.restored[id+":"+name] = restoredLayer{fingerprint: fp, diffID: lm.SHA}
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

func tarName(diffID string) string {
	h, err := v1.NewHash(diffID)
	if err != nil {
		return "invalid.tar"
	}
	return h.Hex + ".tar"
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
	// unchanged is the diffID when the layer is as it was restored.
	unchanged string
}

// collect lists the group's cache = true layers.
func (c *Cache) collect(o SaveOptions) ([]cachedLayer, []labels.BuildpackEntry, error) {
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
				if fp, err := archive.Fingerprint(dir, nil, ""); err == nil && fp == r.fingerprint {
					cl.unchanged = r.diffID
				}
			}
			out = append(out, cl)
		}
	}
	return out, bps, nil
}

// Save replaces the cache with the group's cache = true layers. The dir
// cache takes the layer directories themselves (by rename: the build is
// over); the image cache pushes only layers that changed since restore.
func (c *Cache) Save(ctx context.Context, o SaveOptions) error {
	layers, bps, err := c.collect(o)
	if err != nil {
		return err
	}
	if c.image != nil {
		return c.image.save(ctx, layers, bps, o)
	}
	staging := filepath.Join(c.dir, "staging")
	if err := os.RemoveAll(staging); err != nil {
		return fmt.Errorf("saving cache: clearing what an earlier save left: %w", err)
	}
	if err := os.MkdirAll(staging, 0o755); err != nil {
		return fmt.Errorf("saving cache: %w", err)
	}
	md := Metadata{Trees: map[string]Tree{}}
	for i, l := range layers {
		key := l.id + ":" + l.name
		if el := o.Exported[key]; el != nil {
			d, err := el.DiffID()
			if err != nil {
				return fmt.Errorf("saving cache layer %s: %w", key, err)
			}
			l.meta.SHA = d.String()
		}
		fp, err := archive.Fingerprint(l.dir, nil, "")
		if err != nil {
			return fmt.Errorf("saving cache layer %s: %w", key, err)
		}
		// The build is over and exported: the layer dir moves into the
		// cache as it is, no bytes copied.
		tree := Tree{Dir: fmt.Sprintf("%d.d", i), Fingerprint: fp}
		if err := c.journalSave(o.LayersDir, l, find(bps, l.id).Version, tree); err != nil {
			return fmt.Errorf("saving cache layer %s: %w", key, err)
		}
		if err := os.Rename(l.dir, filepath.Join(staging, tree.Dir)); err != nil {
			return fmt.Errorf("saving cache layer %s: %w", key, err)
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
		return err
	}
	if err := os.WriteFile(filepath.Join(staging, "metadata.json"), b, 0o644); err != nil {
		return fmt.Errorf("saving cache: %w", err)
	}
	c.moved = map[string]movedTree{} // nothing to give back any more
	// Swap generations.
	if err := c.swap(staging); err != nil {
		return err
	}
	return c.endSave()
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

// writeTar writes the layer dir as <staging>/<hex>.tar, exactly as the
// app image would hold it, returning its diffID.
func writeTar(ctx context.Context, id, dir, name, staging string, o SaveOptions) (string, error) {
	t, err := export.BuildpackLayerTar(ctx, dir, prefixOr(o.LayersPrefix), id, name, o.Owner, o.ModTime)
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(staging, ".layer-")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	h := sha256.New()
	if err := t.Write(ctx, io.MultiWriter(f, h)); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	hexSum := hex.EncodeToString(h.Sum(nil))
	if err := os.Rename(f.Name(), filepath.Join(staging, hexSum+".tar")); err != nil {
		return "", err
	}
	return "sha256:" + hexSum, nil
}
