package labels

// ImageRef is a run image with its mirrors.
type ImageRef struct {
	Image   string   `json:"image"`
	Mirrors []string `json:"mirrors,omitempty"`
}

// BuilderStack is the deprecated stack section of the builder label.
type BuilderStack struct {
	RunImage ImageRef `json:"runImage"`
}

// APISet lists supported and deprecated API versions.
type APISet struct {
	Deprecated []string `json:"deprecated"`
	Supported  []string `json:"supported"`
}

// LifecycleDescriptor describes the lifecycle a builder carries.
type LifecycleDescriptor struct {
	Version string `json:"version"`
	APIs    struct {
		Buildpack APISet `json:"buildpack"`
		Platform  APISet `json:"platform"`
	} `json:"apis"`
}

// CreatedBy names the tool that made a builder.
type CreatedBy struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Builder is io.buildpacks.builder.metadata in the shape pack writes.
type Builder struct {
	Description string              `json:"description"`
	Stack       BuilderStack        `json:"stack"`
	Images      []ImageRef          `json:"images,omitempty"`
	Buildpacks  []BuildpackRef      `json:"buildpacks"`
	Extensions  []BuildpackRef      `json:"extensions,omitempty"`
	Lifecycle   LifecycleDescriptor `json:"lifecycle"`
	CreatedBy   CreatedBy           `json:"createdBy"`
}

// OrderGroup is one group of io.buildpacks.buildpack.order.
type OrderGroup struct {
	Group []BuildpackRef `json:"group"`
}

// Order is io.buildpacks.buildpack.order.
type Order []OrderGroup

// TargetDistro is a distribution in a buildpack target.
type TargetDistro struct {
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
}

// Target is a buildpack target in io.buildpacks.buildpack.layers.
type Target struct {
	OS      string         `json:"os,omitempty"`
	Arch    string         `json:"arch,omitempty"`
	Variant string         `json:"variant,omitempty"`
	Distros []TargetDistro `json:"distros,omitempty"`
}

// StackEntry is a legacy stack of a buildpack.
type StackEntry struct {
	ID     string   `json:"id"`
	Mixins []string `json:"mixins,omitempty"`
}

// BuildpackLayerInfo is one id/version entry of
// io.buildpacks.buildpack.layers.
type BuildpackLayerInfo struct {
	API         string       `json:"api"`
	Stacks      []StackEntry `json:"stacks,omitempty"`
	Targets     []Target     `json:"targets,omitempty"`
	Order       Order        `json:"order,omitempty"`
	LayerDiffID string       `json:"layerDiffID"`
	Homepage    string       `json:"homepage,omitempty"`
	Name        string       `json:"name,omitempty"`
}

// BuildpackLayersLabel is io.buildpacks.buildpack.layers: id -> version ->
// layer info.
type BuildpackLayersLabel map[string]map[string]BuildpackLayerInfo

// Buildpackage is io.buildpacks.buildpackage.metadata.
type Buildpackage struct {
	ID       string       `json:"id"`
	Version  string       `json:"version"`
	Homepage string       `json:"homepage,omitempty"`
	Stacks   []StackEntry `json:"stacks,omitempty"`
	Targets  []Target     `json:"targets,omitempty"`
}
