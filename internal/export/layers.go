package export

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/labels"
	"github.com/kiln-build/kiln/lifecycle/launch"
)

// launchLayers plans the buildpacks' launch layers, buildpack by
// buildpack in group order, and records them in the lifecycle label.
func (e *exporter) launchLayers(ctx context.Context) error {
	for _, g := range e.o.Group {
		entry, err := e.buildpackLayers(ctx, g)
		if err != nil {
			return err
		}
		e.md.Buildpacks = append(e.md.Buildpacks, entry)
	}
	return nil
}

// buildpackLayers plans one buildpack's launch layers and reads its
// store.toml. The label's entry lists the layers now; their SHAs are
// filled in once they are built.
func (e *exporter) buildpackLayers(ctx context.Context, g descriptor.GroupEntry) (labels.BuildpackEntry, error) {
	bpDir := filepath.Join(e.o.LayersDir, descriptor.EscapeID(g.ID))
	entry := labels.BuildpackEntry{Key: g.ID, Version: g.Version, Layers: map[string]labels.LayerMetadata{}}
	names, err := LayerNames(bpDir)
	if err != nil {
		return entry, err
	}
	for _, name := range names {
		lt, err := launch.ReadLayer(filepath.Join(bpDir, name+".toml"))
		if err != nil {
			return entry, fmt.Errorf("buildpack %s: %w", g.ID, err)
		}
		if !lt.Types.Launch {
			continue
		}
		if err := e.launchLayer(g.ID, bpDir, name, lt, entry.Layers); err != nil {
			return entry, err
		}
	}
	st, err := launch.ReadStore(filepath.Join(bpDir, "store.toml"))
	switch {
	case err == nil && len(st.Metadata) > 0:
		entry.Store = &labels.Store{Metadata: st.Metadata}
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return entry, fmt.Errorf("buildpack %s: %w", g.ID, err)
	}
	return entry, nil
}

// launchLayer plans the launch layer <bpDir>/<name>: its directory, or,
// when the buildpack kept only its metadata, the previous image's layer.
// It records the layer in into, its SHA once built.
func (e *exporter) launchLayer(id, bpDir, name string, lt launch.Layer, into map[string]labels.LayerMetadata) error {
	lm := labels.LayerMetadata{Data: lt.Metadata, Launch: true, Build: lt.Types.Build, Cache: lt.Types.Cache}
	into[name] = lm
	dir := filepath.Join(bpDir, name)
	what := fmt.Sprintf("%s:%s", id, name)
	fi, err := os.Lstat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return fmt.Errorf("launch layer %s: %s is not a directory (%s); refusing to export it", what, dir, fi.Mode().Type())
	case errors.Is(err, fs.ErrNotExist):
		e.plan(func(context.Context) (built, error) {
			l, err := previousLayer(e.o.Previous, e.prev, id, name)
			if err != nil {
				return built{}, fmt.Errorf("launch layer %s has no contents: %w", what, err)
			}
			b, err := reuse(l, what)
			b.log = "Reusing layer " + what
			return b, err
		}, func(b built) {
			lm.SHA = b.diffID.String()
			into[name] = lm
		})
		return nil
	case err != nil:
		return fmt.Errorf("launch layer %s: %w", what, err)
	}
	prefix := path.Join(e.layersRel, descriptor.EscapeID(id), name)
	e.plan(func(ctx context.Context) (built, error) {
		return e.dirLayer(ctx, what, dir, prefix)
	}, func(b built) {
		if lt.Types.Cache {
			e.launchCache[id+":"+name] = b.layer
		}
		lm.SHA = b.diffID.String()
		into[name] = lm
	})
	return nil
}

// sbomLayer plans the layer of the buildpacks' launch SBOM files, if any.
func (e *exporter) sbomLayer(ctx context.Context) error {
	t, err := sbomTar(e.o, e.layersRel, e.owner, archive.WithModTime(e.o.ModTime), e.md)
	if err != nil || t == nil {
		return err
	}
	e.plan(func(ctx context.Context) (built, error) {
		b, err := e.newLayer(ctx, t, "SBOM")
		b.log = "Adding SBOM layer"
		return b, err
	}, func(b built) { e.md.SBOM = &labels.LayerSHA{SHA: b.diffID.String()} })
	return nil
}

// layersAfterApp are the layers planned after the app's: the launcher
// and config layers.
const layersAfterApp = 2

// appLayers plans the app dir: one layer per slice of metadata.toml, then
// the rest, in one layer or, when big, in chunks (see MinChunk). The app
// dir is listed once; the layers' fingerprints and tars come from that
// listing.
func (e *exporter) appLayers(ctx context.Context) error {
	l, err := archive.List(ctx, e.o.AppDir)
	if err != nil {
		return fmt.Errorf("reading app dir: %w", err)
	}
	sliceIdx, rest, err := splitApp(l, e.o.Metadata.Slices)
	if err != nil {
		return err
	}
	add := func(what string, idx []int) {
		e.plan(func(ctx context.Context) (built, error) {
			return e.listedLayer(ctx, what, l, idx, e.appRel)
		}, func(b built) { e.md.App = append(e.md.App, labels.LayerSHA{SHA: b.diffID.String()}) })
	}
	for i, idx := range sliceIdx {
		if len(idx) > 0 {
			add(fmt.Sprintf("app slice %d", i+1), idx)
		}
	}
	budget := min(MaxAppChunks, MaxImageLayers-e.runLayers-len(e.pending)-layersAfterApp)
	chunks := appChunking.split(l, rest, budget)
	for i, idx := range chunks {
		what := "app"
		if len(chunks) > 1 {
			what = fmt.Sprintf("app (chunk %d/%d)", i+1, len(chunks))
		}
		add(what, idx)
	}
	return nil
}

// launcherLayer plans /cnb/lifecycle/launcher.
//
// The launcher is megabytes: when the previous image has the layer of the
// same launcher bytes (the memo says which), it is reused instead of
// compressed again.
func (e *exporter) launcherLayer(ctx context.Context) error {
	root := archive.Owner{}
	t := archive.NewTar(archive.WithModTime(e.o.ModTime))
	for _, en := range []archive.Entry{
		archive.Dir("cnb", 0o755, root),
		archive.Dir("cnb/lifecycle", 0o755, root),
		archive.File("cnb/lifecycle/launcher", 0o755, root, e.o.Launcher),
	} {
		if err := t.Add(en); err != nil {
			return fmt.Errorf("launcher layer: %w", err)
		}
	}
	sum := sha256.Sum256(e.o.Launcher)
	fp := fmt.Sprintf("launcher/%x|%d|%s", sum, e.o.ModTime.Unix(), e.layerType)
	e.plan(func(ctx context.Context) (built, error) {
		if l, ok := reusable(e.o.Previous, e.o.Memo, fp); ok {
			b, err := reuse(l, "launcher")
			b.fp, b.log = fp, "Reusing unchanged layer launcher"
			return b, err
		}
		b, err := e.newLayer(ctx, t, "launcher")
		b.fp = fp
		return b, err
	}, func(b built) { e.md.Launcher = labels.LayerSHA{SHA: b.diffID.String()} })
	return nil
}

// configLayer adds <layers>/config/metadata.toml and a /cnb/process link
// to the launcher per process type (planned).
func (e *exporter) configLayer(ctx context.Context) error {
	root := archive.Owner{}
	entries := []archive.Entry{
		archive.Dir("cnb", 0o755, root),
		archive.Dir("cnb/process", 0o755, root),
		archive.Dir(e.layersRel, 0o755, e.owner),
		archive.Dir(path.Join(e.layersRel, "config"), 0o755, e.owner),
		archive.HostFile(path.Join(e.layersRel, "config", "metadata.toml"), filepath.Join(e.o.LayersDir, "config", "metadata.toml"), 0o644, e.owner),
	}
	for _, p := range e.o.Metadata.Processes {
		entries = append(entries, archive.Symlink("cnb/process/"+p.Type, "/cnb/lifecycle/launcher", root))
	}
	return e.entriesLayer("config", entries, func(b built) { e.md.Config = labels.LayerSHA{SHA: b.diffID.String()} })
}

// entriesLayer plans a layer of the given entries.
func (e *exporter) entriesLayer(what string, entries []archive.Entry, done func(built)) error {
	t := archive.NewTar(archive.WithModTime(e.o.ModTime))
	for _, en := range entries {
		if err := t.Add(en); err != nil {
			return fmt.Errorf("%s layer: %w", what, err)
		}
	}
	e.plan(func(ctx context.Context) (built, error) { return e.newLayer(ctx, t, what) }, done)
	return nil
}
