package labels

import (
	"encoding/json"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Label keys.
const (
	LifecycleMetadata = "io.buildpacks.lifecycle.metadata"
	BuildMetadata     = "io.buildpacks.build.metadata"
	ProjectMetadata   = "io.buildpacks.project.metadata"
	// KilnBuilder names the builder (name@digest) kiln built an app
	// image with.
	KilnBuilder      = "io.kiln.builder"
	BuilderMetadata  = "io.buildpacks.builder.metadata"
	BuildpackOrder   = "io.buildpacks.buildpack.order"
	BuildpackLayers  = "io.buildpacks.buildpack.layers"
	BuildpackageMeta = "io.buildpacks.buildpackage.metadata"
	// ExtensionLayers is io.buildpacks.buildpack.layers for image
	// extensions (same shape); BuildpackOrderExtensions is the builder's
	// [[order-extensions]] (shape of BuildpackOrder).
	ExtensionLayers          = "io.buildpacks.extension.layers"
	BuildpackOrderExtensions = "io.buildpacks.buildpack.order-extensions"
	Rebasable                = "io.buildpacks.rebasable"
	StackID                  = "io.buildpacks.stack.id"
	BaseID                   = "io.buildpacks.base.id"
	BaseDistroName           = "io.buildpacks.base.distro.name"
	BaseDistroVersion        = "io.buildpacks.base.distro.version"
	BaseMaintainer           = "io.buildpacks.base.maintainer"
	BaseHomepage             = "io.buildpacks.base.homepage"
	BaseReleased             = "io.buildpacks.base.released"
	BaseDescription          = "io.buildpacks.base.description"
	BaseMetadata             = "io.buildpacks.base.metadata"
	StackMixins              = "io.buildpacks.stack.mixins"
)

// IsBase says whether a label key describes the base (run or build) image:
// the io.buildpacks.base.* and older io.buildpacks.stack.* labels.
func IsBase(key string) bool {
	return strings.HasPrefix(key, "io.buildpacks.base.") || strings.HasPrefix(key, "io.buildpacks.stack.")
}

// LayerSHA names a layer by its diffID.
type LayerSHA struct {
	SHA string `json:"sha"`
}

// RunImage records which run image an app image sits on.
type RunImage struct {
	Image     string   `json:"image,omitempty"`
	Mirrors   []string `json:"mirrors,omitempty"`
	TopLayer  string   `json:"topLayer,omitempty"`
	Reference string   `json:"reference,omitempty"`
}

// LayerMetadata is a launch layer's entry: its <layer>.toml as JSON plus
// the layer's diffID.
type LayerMetadata struct {
	SHA    string         `json:"sha"`
	Data   map[string]any `json:"data,omitempty"`
	Build  bool           `json:"build"`
	Launch bool           `json:"launch"`
	Cache  bool           `json:"cache"`
}

// Store is a buildpack's store.toml content.
type Store struct {
	Metadata map[string]any `json:"metadata,omitempty"`
}

// BuildpackEntry is one buildpack's entry in the lifecycle metadata.
type BuildpackEntry struct {
	Key     string                   `json:"key"`
	Version string                   `json:"version"`
	Layers  map[string]LayerMetadata `json:"layers"`
	Store   *Store                   `json:"store,omitempty"`
}

// StackRunImage is the deprecated "stack" key, kept for older tools.
type StackRunImage struct {
	RunImage RunImage `json:"runImage"`
}

// Lifecycle is io.buildpacks.lifecycle.metadata.
type Lifecycle struct {
	App        []LayerSHA       `json:"app"`
	SBOM       *LayerSHA        `json:"sbom,omitempty"`
	Config     LayerSHA         `json:"config"`
	Launcher   LayerSHA         `json:"launcher"`
	ExecEnv    string           `json:"exec-env,omitempty"`
	Buildpacks []BuildpackEntry `json:"buildpacks"`
	RunImage   RunImage         `json:"runImage"`
	Stack      *StackRunImage   `json:"stack,omitempty"`
}

// Process is a process in io.buildpacks.build.metadata.
type Process struct {
	Type        string   `json:"type"`
	Command     []string `json:"command"`
	Args        []string `json:"args"`
	Direct      bool     `json:"direct"`
	WorkingDir  string   `json:"working-dir,omitempty"`
	BuildpackID string   `json:"buildpackID"`
	ExecEnv     []string `json:"exec-env,omitempty"`
}

// BuildpackRef names a buildpack in labels.
type BuildpackRef struct {
	ID       string `json:"id"`
	Version  string `json:"version,omitempty"`
	Homepage string `json:"homepage,omitempty"`
	API      string `json:"api,omitempty"`
	Optional bool   `json:"optional,omitempty"`
}

// Launcher describes the launcher binary in an app image.
type Launcher struct {
	Version string          `json:"version"`
	Source  *LauncherSource `json:"source,omitempty"`
}

// LauncherSource says where the launcher came from.
type LauncherSource struct {
	Git struct {
		Repository string `json:"repository"`
		Commit     string `json:"commit"`
	} `json:"git"`
}

// Build is io.buildpacks.build.metadata.
type Build struct {
	Processes  []Process      `json:"processes"`
	Buildpacks []BuildpackRef `json:"buildpacks"`
	Extensions []BuildpackRef `json:"extensions,omitempty"`
	Launcher   Launcher       `json:"launcher"`
	BOM        []any          `json:"bom,omitempty"`
}

// Project is io.buildpacks.project.metadata.
type Project struct {
	Source *ProjectSource `json:"source,omitempty"`
}

// ProjectSource is where the app's source came from.
type ProjectSource struct {
	Type     string         `json:"type"`
	Version  map[string]any `json:"version,omitempty"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

// Decode reads the JSON label key from cfg into v. It reports whether the
// label was present.
func Decode(cfg *v1.ConfigFile, key string, v any) (bool, error) {
	if cfg == nil {
		return false, nil
	}
	s, ok := cfg.Config.Labels[key]
	if !ok || s == "" {
		return false, nil
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return true, fmt.Errorf("label %s: %w", key, err)
	}
	return true, nil
}

// Encode returns v as a label value.
func Encode(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}
