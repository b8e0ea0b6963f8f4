package builder

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/BurntSushi/toml"

	"github.com/kiln-build/kiln/lifecycle/buildpackage"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// ConfigFile is the usual name of a builder configuration.
const ConfigFile = "builder.toml"

// Config is a builder.toml as pack users write it.
type Config struct {
	// Path is the file the configuration came from; relative buildpack
	// URIs are relative to its directory.
	Path        string            `toml:"-"`
	Description string            `toml:"description"`
	Buildpacks  []ConfigBuildpack `toml:"buildpacks"`
	Order       []ConfigGroup     `toml:"order"`
	// Extensions are the image extensions to put into the builder
	// ([[extensions]], given as buildpacks are), OrderExtensions the
	// order they are tried in ([[order-extensions]]).
	Extensions      []ConfigBuildpack `toml:"extensions"`
	OrderExtensions []ConfigGroup     `toml:"order-extensions"`
	Stack           ConfigStack       `toml:"stack"`
	Build           ConfigBuild       `toml:"build"`
	Run             ConfigRun         `toml:"run"`
	// Targets are the platforms the builder is for; the build image's
	// must be one of them.
	Targets []ConfigTarget `toml:"targets"`
	// System are buildpacks added before and after every group.
	System ConfigSystem `toml:"system"`
	// Lifecycle names a lifecycle to put into the builder; kiln runs its
	// own, and says so (Warnings).
	Lifecycle ConfigLifecycle `toml:"lifecycle"`
	// Warnings are what the file asks for that kiln does not do.
	Warnings []string `toml:"-"`
}

// ConfigTarget is one [[targets]] entry.
type ConfigTarget struct {
	OS            string               `toml:"os"`
	Arch          string               `toml:"arch"`
	Variant       string               `toml:"variant"`
	Distributions []ConfigDistribution `toml:"distributions"`
}

// String is os/arch[/variant].
func (t ConfigTarget) String() string {
	s := t.OS + "/" + t.Arch
	if t.Variant != "" {
		s += "/" + t.Variant
	}
	return s
}

// ConfigDistribution is one [[targets.distributions]] entry.
type ConfigDistribution struct {
	Name    string `toml:"name"`
	Version string `toml:"version"`
}

// ConfigSystem is the [system] table: system buildpacks.
type ConfigSystem struct {
	Pre  ConfigSystemGroup `toml:"pre"`
	Post ConfigSystemGroup `toml:"post"`
}

// ConfigSystemGroup is [system.pre] or [system.post].
type ConfigSystemGroup struct {
	Buildpacks []ConfigGroupEntry `toml:"buildpacks"`
}

// ConfigLifecycle is the [lifecycle] table.
type ConfigLifecycle struct {
	URI     string `toml:"uri"`
	Version string `toml:"version"`
}

// ConfigEnv is one [[build.env]] entry: an operator variable written to
// /cnb/build-config/env in the builder, seen by every buildpack.
type ConfigEnv struct {
	Name  string `toml:"name"`
	Value string `toml:"value"`
	// Suffix is how the value applies: override, default, append or
	// prepend (empty: the file has no suffix).
	Suffix string `toml:"suffix"`
	// Delim joins the value for append and prepend.
	Delim string `toml:"delim"`
}

// ConfigBuildpack is one [[buildpacks]] entry.
type ConfigBuildpack struct {
	// URI is a buildpack directory, a .tgz of one, a .cnb file or an
	// image reference (see buildpackage.Resolver).
	URI string `toml:"uri"`
	// Image is pack's deprecated spelling of an image URI.
	Image string `toml:"image"`
	// ID and Version, when set, must name a buildpack the URI brings.
	ID      string `toml:"id"`
	Version string `toml:"version"`
}

// Ref is what the entry names: its uri, else docker://image.
func (b ConfigBuildpack) Ref() string {
	if b.URI != "" {
		return b.URI
	}
	return "docker://" + b.Image
}

// ConfigGroup is one [[order]] entry.
type ConfigGroup struct {
	Group []ConfigGroupEntry `toml:"group"`
}

// ConfigGroupEntry is one [[order.group]] entry. An empty version is the
// only version of the buildpack the builder has.
type ConfigGroupEntry struct {
	ID       string `toml:"id"`
	Version  string `toml:"version"`
	Optional bool   `toml:"optional"`
}

// ConfigStack is the legacy [stack] table.
type ConfigStack struct {
	ID              string   `toml:"id"`
	BuildImage      string   `toml:"build-image"`
	RunImage        string   `toml:"run-image"`
	RunImageMirrors []string `toml:"run-image-mirrors"`
}

// ConfigBuild is the [build] table.
type ConfigBuild struct {
	Image string      `toml:"image"`
	Env   []ConfigEnv `toml:"env"`
}

// ConfigRun is the [run] table.
type ConfigRun struct {
	Images []RunImage `toml:"images"`
}

// BuildImage is [build] image, else the legacy [stack] build-image.
func (c *Config) BuildImage() string {
	if c.Build.Image != "" {
		return c.Build.Image
	}
	return c.Stack.BuildImage
}

// RunImages are the [[run.images]], else the legacy [stack] run-image
// with its mirrors.
func (c *Config) RunImages() RunImages {
	if len(c.Run.Images) > 0 {
		return RunImages{Images: append([]RunImage(nil), c.Run.Images...)}
	}
	if c.Stack.RunImage != "" {
		return RunImages{Images: []RunImage{{Image: c.Stack.RunImage, Mirrors: c.Stack.RunImageMirrors}}}
	}
	return RunImages{}
}

// DescriptorOrder is the [[order]] in the descriptor shape, versions as
// written.
func (c *Config) DescriptorOrder() descriptor.Order { return descriptorOrder(c.Order) }

// DescriptorOrderExtensions is the [[order-extensions]] in the
// descriptor shape, versions as written; extensions are always optional,
// so optional is not kept (pack leaves it out too).
func (c *Config) DescriptorOrderExtensions() descriptor.Order {
	o := descriptorOrder(c.OrderExtensions)
	for _, g := range o {
		for i := range g.Group {
			g.Group[i].Optional = false
		}
	}
	return o
}

func descriptorOrder(groups []ConfigGroup) descriptor.Order {
	var out descriptor.Order
	for _, g := range groups {
		var dg descriptor.Group
		for _, e := range g.Group {
			dg.Group = append(dg.Group, descriptor.GroupEntry{ID: e.ID, Version: e.Version, Optional: e.Optional})
		}
		out = append(out, dg)
	}
	return out
}

// ReadConfig reads and checks the builder.toml at path.
func ReadConfig(path string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return DecodeConfig(abs, data)
}

// DecodeConfig decodes and checks a builder.toml; name (the file path)
// starts every error and becomes Path. Errors are
// *buildpackage.InputError: a key pack does not define ([lifecycle] is
// reported in Warnings), bad [[build.env]], [[targets]] or [system]
// entries, a [[buildpacks]] or [[extensions]] entry with neither or both
// of uri and image, an empty group or a group entry without id (in
// [[order]] or [[order-extensions]]), no build image, a run image entry
// without image, and no run image at all.
func DecodeConfig(name string, data []byte) (*Config, error) {
	c := &Config{}
	md, err := toml.Decode(string(data), c)
	if err != nil {
		return nil, bad("parsing %s: %w", name, err)
	}
	if err := buildpackage.UnknownKeys(name, md); err != nil {
		return nil, err
	}
	c.Path = name
	if err := c.checkAdditions(); err != nil {
		return nil, err
	}
	for _, t := range []struct {
		table   string
		entries []ConfigBuildpack
		order   []ConfigGroup
	}{{"buildpacks", c.Buildpacks, c.Order}, {"extensions", c.Extensions, c.OrderExtensions}} {
		if err := checkModules(name, t.table, t.entries); err != nil {
			return nil, err
		}
		orderTable := "order"
		if t.table == "extensions" {
			orderTable = "order-extensions"
		}
		if err := checkGroups(name, orderTable, t.order); err != nil {
			return nil, err
		}
	}
	if c.Build.Image != "" && c.Stack.BuildImage != "" && c.Build.Image != c.Stack.BuildImage {
		return nil, bad("%s: [build] image %q and [stack] build-image %q differ", name, c.Build.Image, c.Stack.BuildImage)
	}
	if c.BuildImage() == "" {
		return nil, bad("%s: no build image: set [build] image", name)
	}
	for i, r := range c.Run.Images {
		if r.Image == "" {
			return nil, bad("%s: [[run.images]] #%d: image is missing", name, i+1)
		}
	}
	if len(c.RunImages().Images) == 0 {
		return nil, bad("%s: no run image: add [[run.images]] with an image", name)
	}
	return c, nil
}

// checkModules checks the [[buildpacks]] or [[extensions]] entries.
func checkModules(name, table string, entries []ConfigBuildpack) error {
	for i, b := range entries {
		switch {
		case b.URI == "" && b.Image == "":
			return bad("%s: [[%s]] #%d: uri is missing", name, table, i+1)
		case b.URI != "" && b.Image != "":
			return bad("%s: [[%s]] #%d: give uri or image, not both", name, table, i+1)
		case b.ID != "" && descriptor.ValidateID(b.ID) != nil:
			return bad("%s: [[%s]] #%d: %v", name, table, i+1, descriptor.ValidateID(b.ID))
		}
	}
	return nil
}

// checkGroups checks the groups of [[order]] or [[order-extensions]].
func checkGroups(name, table string, groups []ConfigGroup) error {
	for gi, g := range groups {
		if len(g.Group) == 0 {
			return bad("%s: [[%s]] #%d: empty group", name, table, gi+1)
		}
		for ei, e := range g.Group {
			if e.ID == "" {
				return bad("%s: [[%s]] #%d, [[%s.group]] #%d: id is missing", name, table, gi+1, table, ei+1)
			}
		}
	}
	return nil
}

func bad(format string, a ...any) error {
	return &buildpackage.InputError{Err: fmt.Errorf(format, a...)}
}
