package sdk

import (
	"fmt"
	"path/filepath"
	"sort"
)

// BuildContext is what bin/build receives (buildpack.md, §Build), plus the
// files it writes when the build function returns: every layer's
// <layer>.toml, launch.toml and build.toml.
type BuildContext struct {
	// AppDir is the app source, bin/build's working directory.
	AppDir string
	// LayersDir is CNB_LAYERS_DIR, this buildpack's layers directory.
	LayersDir string
	// PlatformDir is CNB_PLATFORM_DIR.
	PlatformDir string
	// ExecEnv is CNB_EXEC_ENV ("production" when unset).
	ExecEnv   string
	Buildpack Info
	Target    Target
	// Plan is the buildpack plan: the requirements this buildpack
	// provides.
	Plan Plan
	// Getenv reads the buildpack's environment; os.Getenv in a real run.
	Getenv func(string) string
	Log    *Logger

	// Launch collects processes, labels and slices for launch.toml.
	Launch Launch
	// Unmet lists plan entries this buildpack leaves to a later one.
	Unmet []string

	layers map[string]*Layer
}

// Layer returns the layer called name with the given types, reading the
// metadata the restorer left for it. Asking twice for the same name
// returns the same layer, with the newer types.
func (b *BuildContext) Layer(name string, types LayerTypes) (*Layer, error) {
	if l, ok := b.layers[name]; ok {
		l.Types = types
		return l, nil
	}
	l, err := openLayer(b.LayersDir, name, types, b.Log)
	if err != nil {
		return nil, err
	}
	if b.layers == nil {
		b.layers = map[string]*Layer{}
	}
	b.layers[name] = l
	return l, nil
}

// finish writes the layers' TOML, launch.toml and build.toml.
func (b *BuildContext) finish() error {
	names := make([]string, 0, len(b.layers))
	for n := range b.layers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := b.layers[n].write(); err != nil {
			return err
		}
	}
	if !b.Launch.Empty() {
		if err := b.Launch.Validate(); err != nil {
			return fmt.Errorf("launch.toml of %s: %w", b.Buildpack.ID, err)
		}
		if err := writeTOMLFile(filepath.Join(b.LayersDir, "launch.toml"), b.Launch); err != nil {
			return err
		}
	}
	if len(b.Unmet) > 0 {
		var bt Build
		for _, u := range b.Unmet {
			bt.Unmet = append(bt.Unmet, Unmet{Name: u})
		}
		if err := writeTOMLFile(filepath.Join(b.LayersDir, "build.toml"), bt); err != nil {
			return err
		}
	}
	return nil
}
