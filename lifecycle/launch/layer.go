package launch

import (
	"fmt"

	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// LayerTypes are the [types] flags of a <layer>.toml.
type LayerTypes struct {
	Launch bool `toml:"launch"`
	Build  bool `toml:"build"`
	Cache  bool `toml:"cache"`
}

// None reports whether all three flags are false: the layer is ignored.
func (t LayerTypes) None() bool { return !t.Launch && !t.Build && !t.Cache }

// Layer is a <layer>.toml file: layer content metadata.
type Layer struct {
	Types LayerTypes `toml:"types"`
	// Metadata is buildpack-specific data; it may hold "exec-env".
	Metadata map[string]any `toml:"metadata,omitempty"`
}

// ExecEnv returns metadata.exec-env, the execution environments the layer
// is restricted to; nil means all. A value that is not an array of strings
// is an error.
func (l Layer) ExecEnv() ([]string, error) {
	v, ok := l.Metadata["exec-env"]
	if !ok {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("metadata.exec-env is a %T, not an array of strings", v)
	}
	out := make([]string, 0, len(arr))
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("metadata.exec-env[%d] is a %T, not a string", i, e)
		}
		out = append(out, s)
	}
	return out, nil
}

// ReadLayer reads the <layer>.toml at path. The launch, build and cache
// flags belong under [types]: at the top level they are an error naming
// the file. A missing [types] table means all flags false. A missing file
// is an error wrapping fs.ErrNotExist.
func ReadLayer(path string) (Layer, error) {
	var l Layer
	md, err := descriptor.ReadTOMLFile(path, &l)
	if err != nil {
		return Layer{}, err
	}
	for _, k := range []string{"launch", "build", "cache"} {
		if md.IsDefined(k) {
			return Layer{}, fmt.Errorf("%s: top-level %q is not allowed; put it under [types]", path, k)
		}
	}
	return l, nil
}

// WriteLayer writes l to path, [types] included.
func WriteLayer(path string, l Layer) error { return descriptor.WriteTOMLFile(path, l) }

// WriteLayerMetadataOnly writes l to path without its [types] table, the
// form in which restored layer metadata is handed back to a buildpack.
func WriteLayerMetadataOnly(path string, l Layer) error {
	return descriptor.WriteTOMLFile(path, struct {
		Metadata map[string]any `toml:"metadata,omitempty"`
	}{l.Metadata})
}
