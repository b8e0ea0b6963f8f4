package export

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/lifecycle/archive"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/labels"
	"github.com/kiln-build/kiln/lifecycle/launch"
)

// launchLayers adds the buildpacks' launch layers, buildpack by buildpack
// in group order, and records them in the lifecycle label.
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

// buildpackLayers adds one buildpack's launch layers and reads its
// store.toml.
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
		lm, err := e.launchLayer(ctx, g.ID, bpDir, name, lt)
		if err != nil {
			return entry, err
		}
		entry.Layers[name] = lm
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

// launchLayer adds the launch layer <bpDir>/<name>: its directory, or,
// when the buildpack kept only its metadata, the previous image's layer.
func (e *exporter) launchLayer(ctx context.Context, id, bpDir, name string, lt launch.Layer) (labels.LayerMetadata, error) {
	lm := labels.LayerMetadata{Data: lt.Metadata, Launch: true, Build: lt.Types.Build, Cache: lt.Types.Cache}
	dir := filepath.Join(bpDir, name)
	what := fmt.Sprintf("%s:%s", id, name)
	fi, err := os.Lstat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return lm, fmt.Errorf("launch layer %s: %s is not a directory (%s); refusing to export it", what, dir, fi.Mode().Type())
	case errors.Is(err, fs.ErrNotExist):
		l, err := previousLayer(e.o.Previous, e.prev, id, name)
		if err != nil {
			return lm, fmt.Errorf("launch layer %s has no contents: %w", what, err)
		}
		d, err := e.reuse(l, what)
		if err != nil {
			return lm, err
		}
		lm.SHA = d.String()
		fmt.Fprintf(e.o.Log, "Reusing layer %s\n", what)
		return lm, nil
	case err != nil:
		return lm, fmt.Errorf("launch layer %s: %w", what, err)
	}
	l, d, err := e.dirLayer(ctx, what, dir, nil, path.Join(e.layersRel, descriptor.EscapeID(id), name))
	if err != nil {
		return lm, err
	}
	if lt.Types.Cache {
		e.launchCache[id+":"+name] = l
	}
	lm.SHA = d.String()
	return lm, nil
}

// sbomLayer adds the layer of the buildpacks' launch SBOM files, if any.
func (e *exporter) sbomLayer(ctx context.Context) error {
	t, err := sbomTar(e.o, e.layersRel, e.owner, archive.WithModTime(e.o.ModTime), e.md)
	if err != nil || t == nil {
		return err
	}
	_, d, err := e.newLayer(ctx, t, "SBOM")
	if err != nil {
		return err
	}
	e.md.SBOM = &labels.LayerSHA{SHA: d.String()}
	fmt.Fprintln(e.o.Log, "Adding SBOM layer")
	return nil
}

// appLayers adds the app dir: one layer per slice of metadata.toml, then
// one of the rest.
func (e *exporter) appLayers(ctx context.Context) error {
	slicesPaths, rest, err := splitApp(e.o.AppDir, e.o.Metadata.Slices)
	if err != nil {
		return err
	}
	for i, paths := range slicesPaths {
		if len(paths) == 0 {
			continue
		}
		_, d, err := e.dirLayer(ctx, fmt.Sprintf("app slice %d", i+1), e.o.AppDir, paths, e.appRel)
		if err != nil {
			return err
		}
		e.md.App = append(e.md.App, labels.LayerSHA{SHA: d.String()})
	}
	_, d, err := e.dirLayer(ctx, "app", e.o.AppDir, rest, e.appRel)
	if err != nil {
		return err
	}
	e.md.App = append(e.md.App, labels.LayerSHA{SHA: d.String()})
	return nil
}

// launcherLayer adds /cnb/lifecycle/launcher.
func (e *exporter) launcherLayer(ctx context.Context) error {
	root := archive.Owner{}
	d, err := e.entriesLayer(ctx, "launcher", []archive.Entry{
		archive.Dir("cnb", 0o755, root),
		archive.Dir("cnb/lifecycle", 0o755, root),
		archive.File("cnb/lifecycle/launcher", 0o755, root, e.o.Launcher),
	})
	if err != nil {
		return err
	}
	e.md.Launcher = labels.LayerSHA{SHA: d.String()}
	return nil
}

// configLayer adds <layers>/config/metadata.toml and a /cnb/process link
// to the launcher per process type.
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
	d, err := e.entriesLayer(ctx, "config", entries)
	if err != nil {
		return err
	}
	e.md.Config = labels.LayerSHA{SHA: d.String()}
	return nil
}

// entriesLayer adds a layer of the given entries.
func (e *exporter) entriesLayer(ctx context.Context, what string, entries []archive.Entry) (v1.Hash, error) {
	t := archive.NewTar(archive.WithModTime(e.o.ModTime))
	for _, en := range entries {
		if err := t.Add(en); err != nil {
			return v1.Hash{}, fmt.Errorf("%s layer: %w", what, err)
		}
	}
	_, d, err := e.newLayer(ctx, t, what)
	return d, err
}
