package inspect

import (
	"fmt"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/internal/env"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// Kind says what sort of CNB image was inspected.
type Kind string

// The kinds of image Inspect recognises.
const (
	KindApp          Kind = "app"
	KindBuilder      Kind = "builder"
	KindBuildpackage Kind = "buildpackage"
)

// Report describes one image. Exactly one of App, Builder and
// Buildpackage is set, as Kind says.
type Report struct {
	Kind         Kind          `json:"kind"`
	Digest       string        `json:"digest"`
	OS           string        `json:"os,omitempty"`
	Architecture string        `json:"architecture,omitempty"`
	Created      time.Time     `json:"created"`
	App          *App          `json:"app,omitempty"`
	Builder      *Builder      `json:"builder,omitempty"`
	Buildpackage *Buildpackage `json:"buildpackage,omitempty"`
}

// App describes an app image.
type App struct {
	Buildpacks []BuildpackRef        `json:"buildpacks"`
	Processes  []Process             `json:"processes"`
	RunImage   RunImage              `json:"runImage"`
	BaseLabels map[string]string     `json:"baseLabels,omitempty"`
	Layers     []Layer               `json:"layers"`
	Launcher   string                `json:"launcherVersion,omitempty"`
	Source     *labels.ProjectSource `json:"source,omitempty"`
}

// BuildpackRef names a buildpack that took part in a build.
type BuildpackRef struct {
	ID       string `json:"id"`
	Version  string `json:"version"`
	Homepage string `json:"homepage,omitempty"`
}

// Process is a process type of an app image.
type Process struct {
	Type        string   `json:"type"`
	Command     []string `json:"command"`
	Args        []string `json:"args,omitempty"`
	Direct      bool     `json:"direct"`
	WorkingDir  string   `json:"workingDir,omitempty"`
	BuildpackID string   `json:"buildpackID,omitempty"`
	// Default marks the process the image starts without arguments.
	Default bool `json:"default"`
}

// RunImage is the run image an app image sits on.
type RunImage struct {
	Image     string   `json:"image"`
	Mirrors   []string `json:"mirrors,omitempty"`
	Reference string   `json:"reference,omitempty"`
	TopLayer  string   `json:"topLayer,omitempty"`
}

// Layer is one layer of an image, with what the labels say it holds.
type Layer struct {
	Digest string `json:"digest"`
	DiffID string `json:"diffID"`
	// Size is the compressed size in bytes.
	Size int64 `json:"size"`
	// Role is "run image", "buildpack <id>: <layer>", "app", "sbom",
	// "launcher", "config", or empty when the labels do not say.
	Role string `json:"role,omitempty"`
}

// Builder describes a builder image.
type Builder struct {
	Description string            `json:"description,omitempty"`
	CreatedBy   string            `json:"createdBy,omitempty"`
	Stack       string            `json:"stack,omitempty"`
	RunImages   []RunImage        `json:"runImages"`
	BuildUser   string            `json:"buildUser,omitempty"`
	BaseLabels  map[string]string `json:"baseLabels,omitempty"`
	Buildpacks  []Buildpack       `json:"buildpacks"`
	Order       []Group           `json:"order"`
	// Extensions are the image extensions the builder carries, and
	// OrderExtensions the order they are tried in ahead of each group.
	Extensions      []Buildpack `json:"extensions,omitempty"`
	OrderExtensions []Group     `json:"orderExtensions,omitempty"`
	BuildpackAPIs   []string    `json:"buildpackAPIs,omitempty"`
	PlatformAPIs    []string    `json:"platformAPIs,omitempty"`
}

// Buildpackage describes a buildpackage image.
type Buildpackage struct {
	ID         string          `json:"id"`
	Version    string          `json:"version"`
	Homepage   string          `json:"homepage,omitempty"`
	Targets    []labels.Target `json:"targets,omitempty"`
	Stacks     []string        `json:"stacks,omitempty"`
	Buildpacks []Buildpack     `json:"buildpacks"`
	// Order is the entrypoint's order when it is a composite buildpack.
	Order []Group `json:"order,omitempty"`
}

// Buildpack is one buildpack a builder or buildpackage carries.
type Buildpack struct {
	ID        string `json:"id"`
	Version   string `json:"version"`
	Name      string `json:"name,omitempty"`
	Homepage  string `json:"homepage,omitempty"`
	API       string `json:"api,omitempty"`
	DiffID    string `json:"diffID,omitempty"`
	Composite bool   `json:"composite,omitempty"`
}

// Group is one group of a detection order.
type Group struct {
	Group []OrderEntry `json:"group"`
}

// OrderEntry is one buildpack of a group. A composite buildpack's own
// order follows in Order.
type OrderEntry struct {
	ID       string  `json:"id"`
	Version  string  `json:"version,omitempty"`
	Optional bool    `json:"optional,omitempty"`
	Order    []Group `json:"order,omitempty"`
}

// Inspect describes img from its config, labels and manifest.
func Inspect(img v1.Image) (*Report, error) {
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the image config: %w", err)
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("reading the image digest: %w", err)
	}
	r := &Report{Digest: digest.String(), OS: cfg.OS, Architecture: cfg.Architecture, Created: cfg.Created.Time.UTC()}
	has := func(k string) bool { return cfg.Config.Labels[k] != "" }
	switch {
	case has(labels.LifecycleMetadata):
		r.Kind = KindApp
		r.App, err = inspectApp(img, cfg)
	case has(labels.BuilderMetadata):
		r.Kind = KindBuilder
		r.Builder, err = inspectBuilder(cfg)
	case has(labels.BuildpackageMeta):
		r.Kind = KindBuildpackage
		r.Buildpackage, err = inspectPackage(cfg)
	default:
		return nil, fmt.Errorf("not a CNB image: it has none of the labels %s, %s, %s", labels.LifecycleMetadata, labels.BuilderMetadata, labels.BuildpackageMeta)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

func inspectApp(img v1.Image, cfg *v1.ConfigFile) (*App, error) {
	var md labels.Lifecycle
	if _, err := labels.Decode(cfg, labels.LifecycleMetadata, &md); err != nil {
		return nil, err
	}
	var build labels.Build
	if _, err := labels.Decode(cfg, labels.BuildMetadata, &build); err != nil {
		return nil, err
	}
	var project labels.Project
	if _, err := labels.Decode(cfg, labels.ProjectMetadata, &project); err != nil {
		return nil, err
	}
	a := &App{
		RunImage:   RunImage{Image: md.RunImage.Image, Mirrors: md.RunImage.Mirrors, Reference: md.RunImage.Reference, TopLayer: md.RunImage.TopLayer},
		BaseLabels: baseLabels(cfg),
		Launcher:   build.Launcher.Version,
		Source:     project.Source,
		Buildpacks: []BuildpackRef{},
		Processes:  []Process{},
	}
	if a.RunImage.Image == "" && md.Stack != nil {
		a.RunImage.Image, a.RunImage.Mirrors = md.Stack.RunImage.Image, md.Stack.RunImage.Mirrors
	}
	for _, b := range build.Buildpacks {
		a.Buildpacks = append(a.Buildpacks, BuildpackRef{ID: b.ID, Version: b.Version, Homepage: b.Homepage})
	}
	if len(a.Buildpacks) == 0 {
		for _, b := range md.Buildpacks {
			a.Buildpacks = append(a.Buildpacks, BuildpackRef{ID: b.Key, Version: b.Version})
		}
	}
	def := defaultProcess(cfg)
	for _, p := range build.Processes {
		a.Processes = append(a.Processes, Process{
			Type: p.Type, Command: p.Command, Args: p.Args, Direct: p.Direct,
			WorkingDir: p.WorkingDir, BuildpackID: p.BuildpackID, Default: p.Type == def,
		})
	}
	layers, err := appLayers(img, cfg, md)
	if err != nil {
		return nil, err
	}
	a.Layers = layers
	return a, nil
}

// defaultProcess is the process type the image's entrypoint starts:
// /cnb/process/<type>.
func defaultProcess(cfg *v1.ConfigFile) string {
	if len(cfg.Config.Entrypoint) == 0 {
		return ""
	}
	t, ok := strings.CutPrefix(cfg.Config.Entrypoint[0], "/cnb/process/")
	if !ok {
		return ""
	}
	return t
}

func appLayers(img v1.Image, cfg *v1.ConfigFile, md labels.Lifecycle) ([]Layer, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading the image manifest: %w", err)
	}
	roles := map[string]string{}
	set := func(sha, role string) {
		if sha != "" && roles[sha] == "" {
			roles[sha] = role
		}
	}
	for _, b := range md.Buildpacks {
		names := make([]string, 0, len(b.Layers))
		for n := range b.Layers {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			set(b.Layers[n].SHA, "buildpack "+b.Key+": "+n)
		}
	}
	for _, l := range md.App {
		set(l.SHA, "app")
	}
	if md.SBOM != nil {
		set(md.SBOM.SHA, "sbom")
	}
	set(md.Launcher.SHA, "launcher")
	set(md.Config.SHA, "config")
	out := make([]Layer, 0, len(m.Layers))
	top := -1
	for i, d := range cfg.RootFS.DiffIDs {
		if d.String() == md.RunImage.TopLayer {
			top = i
		}
	}
	for i, l := range m.Layers {
		layer := Layer{Digest: l.Digest.String(), Size: l.Size}
		if i < len(cfg.RootFS.DiffIDs) {
			layer.DiffID = cfg.RootFS.DiffIDs[i].String()
		}
		switch {
		case i <= top:
			layer.Role = "run image"
		default:
			layer.Role = roles[layer.DiffID]
		}
		out = append(out, layer)
	}
	return out, nil
}

// baseLabels are the image's io.buildpacks.base.* and
// io.buildpacks.stack.* labels.
func baseLabels(cfg *v1.ConfigFile) map[string]string {
	out := map[string]string{}
	for k, v := range cfg.Config.Labels {
		if labels.IsBase(k) {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func inspectBuilder(cfg *v1.ConfigFile) (*Builder, error) {
	var md labels.Builder
	if _, err := labels.Decode(cfg, labels.BuilderMetadata, &md); err != nil {
		return nil, err
	}
	var order labels.Order
	if _, err := labels.Decode(cfg, labels.BuildpackOrder, &order); err != nil {
		return nil, err
	}
	var ll labels.BuildpackLayersLabel
	if _, err := labels.Decode(cfg, labels.BuildpackLayers, &ll); err != nil {
		return nil, err
	}
	var orderExt labels.Order
	if _, err := labels.Decode(cfg, labels.BuildpackOrderExtensions, &orderExt); err != nil {
		return nil, err
	}
	var extLayers labels.BuildpackLayersLabel
	if _, err := labels.Decode(cfg, labels.ExtensionLayers, &extLayers); err != nil {
		return nil, err
	}
	b := &Builder{
		Description:   md.Description,
		Stack:         cfg.Config.Labels[labels.StackID],
		BaseLabels:    baseLabels(cfg),
		BuildpackAPIs: md.Lifecycle.APIs.Buildpack.Supported,
		PlatformAPIs:  md.Lifecycle.APIs.Platform.Supported,
		RunImages:     []RunImage{},
		Buildpacks:    buildpacks(ll, md.Buildpacks),
		Order:         expand(order, ll, 0),
	}
	if len(extLayers) > 0 || len(md.Extensions) > 0 {
		b.Extensions = buildpacks(extLayers, md.Extensions)
	}
	if len(orderExt) > 0 {
		b.OrderExtensions = expand(orderExt, nil, maxOrderDepth)
	}
	if md.CreatedBy.Name != "" {
		b.CreatedBy = strings.TrimSpace(md.CreatedBy.Name + " " + md.CreatedBy.Version)
	}
	for _, r := range md.Images {
		b.RunImages = append(b.RunImages, RunImage{Image: r.Image, Mirrors: r.Mirrors})
	}
	if len(b.RunImages) == 0 && md.Stack.RunImage.Image != "" {
		b.RunImages = append(b.RunImages, RunImage{Image: md.Stack.RunImage.Image, Mirrors: md.Stack.RunImage.Mirrors})
	}
	vars := env.New(cfg.Config.Env)
	if uid, ok := vars.Lookup("CNB_USER_ID"); ok {
		b.BuildUser = uid + ":" + vars.Get("CNB_GROUP_ID")
	}
	return b, nil
}

func inspectPackage(cfg *v1.ConfigFile) (*Buildpackage, error) {
	var md labels.Buildpackage
	if _, err := labels.Decode(cfg, labels.BuildpackageMeta, &md); err != nil {
		return nil, err
	}
	var ll labels.BuildpackLayersLabel
	if _, err := labels.Decode(cfg, labels.BuildpackLayers, &ll); err != nil {
		return nil, err
	}
	p := &Buildpackage{
		ID: md.ID, Version: md.Version, Homepage: md.Homepage, Targets: md.Targets,
		Buildpacks: buildpacks(ll, nil),
	}
	for _, s := range md.Stacks {
		p.Stacks = append(p.Stacks, s.ID)
	}
	if info, ok := ll[md.ID][md.Version]; ok && len(info.Order) > 0 {
		p.Order = expand(info.Order, ll, 0)
	}
	return p, nil
}

// buildpacks lists the layers label's buildpacks sorted by id and
// version, with homepages from refs where the label has none.
func buildpacks(ll labels.BuildpackLayersLabel, refs []labels.BuildpackRef) []Buildpack {
	home := map[string]string{}
	for _, r := range refs {
		home[r.ID+"@"+r.Version] = r.Homepage
	}
	out := []Buildpack{}
	for id, vs := range ll {
		for v, info := range vs {
			b := Buildpack{ID: id, Version: v, Name: info.Name, Homepage: info.Homepage, API: info.API, DiffID: info.LayerDiffID, Composite: len(info.Order) > 0}
			if b.Homepage == "" {
				b.Homepage = home[id+"@"+v]
			}
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		for _, r := range refs {
			out = append(out, Buildpack{ID: r.ID, Version: r.Version, Homepage: r.Homepage})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ID != out[j].ID {
			return out[i].ID < out[j].ID
		}
		return out[i].Version < out[j].Version
	})
	return out
}

// maxOrderDepth bounds the expansion of nested composite orders (and so
// a cycle in a malformed label).
const maxOrderDepth = 8

// expand converts an order label, nesting each composite buildpack's own
// order from the layers label.
func expand(o labels.Order, ll labels.BuildpackLayersLabel, depth int) []Group {
	out := []Group{}
	for _, g := range o {
		var eg Group
		for _, e := range g.Group {
			oe := OrderEntry{ID: e.ID, Version: e.Version, Optional: e.Optional}
			if info, ok := lookup(ll, e.ID, e.Version); ok && len(info.Order) > 0 && depth < maxOrderDepth {
				oe.Order = expand(info.Order, ll, depth+1)
			}
			eg.Group = append(eg.Group, oe)
		}
		out = append(out, eg)
	}
	return out
}

func lookup(ll labels.BuildpackLayersLabel, id, version string) (labels.BuildpackLayerInfo, bool) {
	vs := ll[id]
	if version != "" {
		info, ok := vs[version]
		return info, ok
	}
	if len(vs) == 1 {
		for _, info := range vs {
			return info, true
		}
	}
	return labels.BuildpackLayerInfo{}, false
}
