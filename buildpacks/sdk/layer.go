package sdk

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// LayerTypes are the [types] flags of a <layer>.toml (buildpack.md,
// §Layer Types): Launch puts the layer into the app image, Build makes it
// visible to later buildpacks, Cache keeps it for the next build.
type LayerTypes struct {
	Launch bool `toml:"launch"`
	Build  bool `toml:"build"`
	Cache  bool `toml:"cache"`
}

func (t LayerTypes) String() string {
	var s []string
	if t.Launch {
		s = append(s, "launch")
	}
	if t.Build {
		s = append(s, "build")
	}
	if t.Cache {
		s = append(s, "cache")
	}
	if len(s) == 0 {
		return "ignored"
	}
	return strings.Join(s, "+")
}

// Layer is one layer of the buildpack: the directory <layers>/<name> and
// its <layers>/<name>.toml, written when the build function returns.
type Layer struct {
	Name  string
	Path  string
	Types LayerTypes
	// Metadata goes under [metadata]. Reuse sets it to the key.
	Metadata map[string]any
	// Info is written under [metadata.info]: facts about the contents
	// (such as the exact version a range resolved to) that are not part
	// of the reuse key. Reuse restores it when the layer is reused and
	// empties it otherwise.
	Info map[string]any

	tomlPath  string
	restored  map[string]any // [metadata] of the restored <layer>.toml
	hadTOML   bool
	fromImage bool // reused from the previous image: no directory here
	removed   bool
	log       *Logger
}

// sbomExts are the extensions of a layer's SBOM files,
// <layer>.sbom.<ext> (buildpack.md, §Bills-of-Materials).
var sbomExts = []string{"cdx.json", "spdx.json", "syft.json"}

// reservedLayerNames are layer names the spec keeps for its own files.
var reservedLayerNames = map[string]bool{"build": true, "launch": true, "store": true}

func validLayerName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("layer name %q is not valid", name)
	case strings.ContainsAny(name, "/\\\x00"):
		return fmt.Errorf("layer name %q contains a path separator", name)
	case reservedLayerNames[name]:
		return fmt.Errorf("layer name %q is reserved by the buildpack API", name)
	}
	return nil
}

// openLayer reads what the restorer left for layer name in layersDir.
func openLayer(layersDir, name string, types LayerTypes, log *Logger) (*Layer, error) {
	if err := validLayerName(name); err != nil {
		return nil, err
	}
	l := &Layer{
		Name:     name,
		Path:     filepath.Join(layersDir, name),
		Types:    types,
		Metadata: map[string]any{},
		Info:     map[string]any{},
		tomlPath: filepath.Join(layersDir, name+".toml"),
		log:      log,
	}
	data, err := os.ReadFile(l.tomlPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return l, nil
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w", l.tomlPath, err)
	}
	var f struct {
		Metadata map[string]any `toml:"metadata"`
	}
	if _, err := toml.Decode(string(data), &f); err != nil {
		// an unreadable cache entry is not the user's problem: rebuild it
		log.Warn("ignoring unreadable %s: %v", l.tomlPath, err)
		return l, nil
	}
	l.hadTOML = true
	l.restored = f.Metadata
	if l.restored == nil {
		l.restored = map[string]any{}
	}
	return l, nil
}

// Restored returns the [metadata] the previous build left for this layer,
// and whether there was any.
func (l *Layer) Restored() (map[string]any, bool) { return l.restored, l.hadTOML }

// Reuse compares the layer's restored metadata with key (a struct or map
// that encodes as a TOML table; use strings for values, since numbers may
// change type on their way through image labels). When they are equal and
// the contents are there, it logs "Reusing cached layer <name>" and returns
// true: the caller must leave the directory alone. Otherwise it logs why,
// wipes the layer, creates its empty directory and returns false: the
// caller must fill it. Either way Metadata becomes key.
//
// A launch-only layer (not cached, not build) whose metadata matches comes
// back from the restorer without contents; it is reused from the previous
// app image by writing its <layer>.toml without a directory.
func (l *Layer) Reuse(key any) (bool, error) {
	want, err := normalizeKey(key)
	if err != nil {
		return false, fmt.Errorf("metadata key of layer %s: %w", l.Name, err)
	}
	if _, ok := want[infoKey]; ok {
		return false, fmt.Errorf("metadata key of layer %s: %q is reserved for Layer.Info", l.Name, infoKey)
	}
	l.Metadata = want
	l.Info = map[string]any{}
	if !l.hadTOML {
		l.log.Step("Creating layer %s (%s): no cached layer", l.Name, l.Types)
		return false, l.reset()
	}
	old := normalizeValue(l.restored).(map[string]any)
	info, _ := old[infoKey].(map[string]any)
	delete(old, infoKey)
	if diff := keyDiff(old, want); diff != "" {
		l.log.Step("Rebuilding layer %s (%s): %s", l.Name, l.Types, diff)
		return false, l.reset()
	}
	fi, err := os.Stat(l.Path)
	switch {
	case err == nil && fi.IsDir():
		l.restoreInfo(info)
		l.log.Step("Reusing cached layer %s", l.Name)
		return true, nil
	case errors.Is(err, fs.ErrNotExist) && l.Types.Launch && !l.Types.Cache && !l.Types.Build:
		l.restoreInfo(info)
		l.fromImage = true
		l.log.Step("Reusing layer %s from the previous image", l.Name)
		return true, nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("reading layer %s: %w", l.Path, err)
	}
	l.log.Step("Rebuilding layer %s (%s): its contents were not restored", l.Name, l.Types)
	return false, l.reset()
}

// infoKey is the [metadata] table that holds Layer.Info.
const infoKey = "info"

func (l *Layer) restoreInfo(info map[string]any) {
	for k, v := range info {
		l.Info[k] = v
	}
}

// Reset wipes the layer and creates its empty directory, for layers that
// are rebuilt on every build. Metadata is kept.
func (l *Layer) Reset() error {
	return l.reset()
}

func (l *Layer) reset() error {
	l.fromImage = false
	l.removed = false
	if err := os.RemoveAll(l.Path); err != nil {
		return fmt.Errorf("removing old layer %s: %w", l.Path, err)
	}
	if err := os.Remove(l.tomlPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing old %s: %w", l.tomlPath, err)
	}
	// the old contents' SBOM files go with them
	for _, ext := range sbomExts {
		p := strings.TrimSuffix(l.tomlPath, ".toml") + ".sbom." + ext
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing old %s: %w", p, err)
		}
	}
	if err := os.MkdirAll(l.Path, 0o755); err != nil {
		return fmt.Errorf("creating layer %s: %w", l.Path, err)
	}
	return nil
}

// Remove deletes the layer and its metadata; it will not be written.
func (l *Layer) Remove() error {
	if err := l.reset(); err != nil {
		return err
	}
	if err := os.RemoveAll(l.Path); err != nil {
		return fmt.Errorf("removing layer %s: %w", l.Path, err)
	}
	l.removed = true
	return nil
}

// SharedEnv is the layer's env/ directory: variables for both later
// buildpacks (when Types.Build) and the app (when Types.Launch).
func (l *Layer) SharedEnv() EnvDir { return EnvDir{dir: filepath.Join(l.Path, "env")} }

// BuildEnv is env.build/: variables for later buildpacks only.
func (l *Layer) BuildEnv() EnvDir { return EnvDir{dir: filepath.Join(l.Path, "env.build")} }

// LaunchEnv is env.launch/: variables for every app process.
func (l *Layer) LaunchEnv() EnvDir { return EnvDir{dir: filepath.Join(l.Path, "env.launch")} }

// ProcessEnv is env.launch/<process>/: variables for one process type.
func (l *Layer) ProcessEnv(process string) EnvDir {
	return EnvDir{dir: filepath.Join(l.Path, "env.launch", process)}
}

// write writes <layer>.toml.
func (l *Layer) write() error {
	if l.removed {
		return nil
	}
	if !l.fromImage {
		if err := os.MkdirAll(l.Path, 0o755); err != nil {
			return fmt.Errorf("creating layer %s: %w", l.Path, err)
		}
	}
	md := make(map[string]any, len(l.Metadata)+1)
	for k, v := range l.Metadata {
		md[k] = v
	}
	if len(l.Info) > 0 {
		md[infoKey] = l.Info
	}
	f := struct {
		Types    LayerTypes     `toml:"types"`
		Metadata map[string]any `toml:"metadata,omitempty"`
	}{l.Types, md}
	return writeTOMLFile(l.tomlPath, f)
}

// normalizeKey turns key into the map a TOML decoder would produce for it,
// so that a key and the metadata read back from a <layer>.toml compare
// equal exactly when they say the same thing.
func normalizeKey(key any) (map[string]any, error) {
	if key == nil {
		return map[string]any{}, nil
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(key); err != nil {
		return nil, err
	}
	m := map[string]any{}
	if _, err := toml.Decode(buf.String(), &m); err != nil {
		return nil, err
	}
	return normalizeValue(m).(map[string]any), nil
}

// normalizeValue makes numbers float64 and arrays []any, the common form of
// values that went through TOML, JSON or both.
func normalizeValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalizeValue(e)
		}
		return out
	case []map[string]any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeValue(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeValue(e)
		}
		return out
	case int64:
		return float64(x)
	case int:
		return float64(x)
	}
	return v
}

// keyDiff explains how the restored metadata differs from the new key,
// or returns "" when they are equal.
func keyDiff(old, new map[string]any) string {
	if reflect.DeepEqual(old, new) {
		return ""
	}
	names := map[string]bool{}
	for k := range old {
		names[k] = true
	}
	for k := range new {
		names[k] = true
	}
	var keys []string
	for k := range names {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		o, ok1 := old[k]
		n, ok2 := new[k]
		switch {
		case !ok1:
			parts = append(parts, fmt.Sprintf("%s is new", k))
		case !ok2:
			parts = append(parts, fmt.Sprintf("%s was removed", k))
		case !reflect.DeepEqual(o, n):
			parts = append(parts, fmt.Sprintf("%s changed from %s to %s", k, short(o), short(n)))
		}
	}
	return strings.Join(parts, ", ")
}

func short(v any) string {
	s := fmt.Sprint(v)
	if len(s) > 24 {
		s = s[:21] + "..."
	}
	return fmt.Sprintf("%q", s)
}
