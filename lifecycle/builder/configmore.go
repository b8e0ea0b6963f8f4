package builder

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/internal/beneath"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// BuildConfigEnvDir is where a builder keeps [[build.env]] (in the image,
// without the leading slash).
const BuildConfigEnvDir = "cnb/build-config/env"

// SystemFile is the builder's system.toml (without the leading slash).
const SystemFile = "cnb/system.toml"

var envSuffixes = map[string]bool{"": true, "override": true, "default": true, "append": true, "prepend": true}

// checkAdditions checks [[build.env]], [[targets]], [system] and
// [lifecycle], and notes in Warnings what kiln does not do.
func (c *Config) checkAdditions() error {
	seen := map[string]bool{}
	for i, e := range c.Build.Env {
		switch {
		case e.Name == "" || strings.ContainsAny(e.Name, "=/.\x00") || strings.TrimSpace(e.Name) != e.Name:
			return bad("%s: [[build.env]] #%d: name %q is not a variable name", c.Path, i+1, e.Name)
		case !envSuffixes[e.Suffix]:
			return bad("%s: [[build.env]] #%d (%s): suffix %q: want override, default, append or prepend", c.Path, i+1, e.Name, e.Suffix)
		case e.Delim != "" && e.Suffix != "append" && e.Suffix != "prepend":
			return bad("%s: [[build.env]] #%d (%s): delim needs suffix append or prepend", c.Path, i+1, e.Name)
		case seen[e.Name+"."+e.Suffix]:
			return bad("%s: [[build.env]] #%d: %s is given twice", c.Path, i+1, e.Name)
		}
		seen[e.Name+"."+e.Suffix] = true
	}
	for i, t := range c.Targets {
		if t.OS == "" {
			c.Targets[i].OS = "linux"
		}
		if t.Arch == "" {
			return bad("%s: [[targets]] #%d: arch is missing", c.Path, i+1)
		}
	}
	for _, g := range []struct {
		name string
		bps  []ConfigGroupEntry
	}{{"[system.pre]", c.System.Pre.Buildpacks}, {"[system.post]", c.System.Post.Buildpacks}} {
		for i, e := range g.bps {
			if err := descriptor.ValidateID(e.ID); err != nil {
				return bad("%s: %s buildpacks #%d: %v", c.Path, g.name, i+1, err)
			}
		}
	}
	if l := c.Lifecycle; l.URI != "" || l.Version != "" {
		what := l.Version
		if what == "" {
			what = l.URI
		}
		c.Warnings = append(c.Warnings, fmt.Sprintf("%s: [lifecycle] %s is not put into the builder: kiln runs its own lifecycle (Platform API %s, Buildpack API %s to %s)",
			c.Path, what, SupportedPlatformAPIs[len(SupportedPlatformAPIs)-1], SupportedBuildpackAPIs[0], SupportedBuildpackAPIs[len(SupportedBuildpackAPIs)-1]))
	}
	return nil
}

// buildEnvEntries are the files of [[build.env]] under
// /cnb/build-config/env: NAME[.suffix] holding the value, NAME.delim the
// delimiter.
func buildEnvEntries(env []ConfigEnv) []archive.Entry {
	if len(env) == 0 {
		return nil
	}
	out := []archive.Entry{
		archive.Dir("cnb/build-config", 0o755, archive.Owner{}),
		archive.Dir(BuildConfigEnvDir, 0o755, archive.Owner{}),
	}
	for _, e := range env {
		name := e.Name
		if e.Suffix != "" {
			name += "." + e.Suffix
		}
		out = append(out, archive.File(path.Join(BuildConfigEnvDir, name), 0o644, archive.Owner{}, []byte(e.Value)))
		if e.Delim != "" {
			out = append(out, archive.File(path.Join(BuildConfigEnvDir, e.Name+".delim"), 0o644, archive.Owner{}, []byte(e.Delim)))
		}
	}
	return out
}

// System is a builder's system buildpacks (system.toml).
type System struct {
	Pre, Post descriptor.Group
}

type systemFile struct {
	System struct {
		Pre struct {
			Buildpacks []descriptor.GroupEntry `toml:"buildpacks"`
		} `toml:"pre"`
		Post struct {
			Buildpacks []descriptor.GroupEntry `toml:"buildpacks"`
		} `toml:"post"`
	} `toml:"system"`
}

// encodeSystem is system.toml for s (nil when s is empty).
func encodeSystem(s System) ([]byte, error) {
	if len(s.Pre.Group)+len(s.Post.Group) == 0 {
		return nil, nil
	}
	var f systemFile
	f.System.Pre.Buildpacks, f.System.Post.Buildpacks = s.Pre.Group, s.Post.Group
	var b strings.Builder
	if err := toml.NewEncoder(&b).Encode(f); err != nil {
		return nil, fmt.Errorf("encoding system.toml: %w", err)
	}
	return []byte(b.String()), nil
}

// readSystem reads the system.toml of the unpacked builder root file
// system rootfs (an empty System when it has none). The builder image
// comes from a registry: the file is read without following links (one
// to a host file or /dev/zero) and bounded as every TOML file is.
func readSystem(rootfs string) (System, error) {
	data, err := beneath.New(rootfs, func(rel string) string { return "/" + rel }).ReadFile(SystemFile, descriptor.MaxTOMLSize)
	if errors.Is(err, fs.ErrNotExist) {
		return System{}, nil
	}
	if err != nil {
		return System{}, err
	}
	return decodeSystem(SystemFile, data)
}

// decodeSystem reads system.toml content; its entries must name valid
// ids and versions, as an order.toml's do.
func decodeSystem(name string, data []byte) (System, error) {
	var f systemFile
	if _, err := toml.Decode(string(data), &f); err != nil {
		return System{}, fmt.Errorf("reading %s: %w", name, err)
	}
	for _, e := range append(append([]descriptor.GroupEntry{}, f.System.Pre.Buildpacks...), f.System.Post.Buildpacks...) {
		if err := descriptor.ValidateID(e.ID); err != nil {
			return System{}, fmt.Errorf("reading %s: %w", name, err)
		}
		if e.Version != "" {
			if err := descriptor.ValidateVersion(e.Version); err != nil {
				return System{}, fmt.Errorf("reading %s: %s: %w", name, e.ID, err)
			}
		}
	}
	return System{Pre: descriptor.Group{Group: f.System.Pre.Buildpacks}, Post: descriptor.Group{Group: f.System.Post.Buildpacks}}, nil
}

// Wrap adds the system buildpacks around every group of order (those
// already in a group are not added again).
func (s System) Wrap(order descriptor.Order) descriptor.Order {
	if len(s.Pre.Group)+len(s.Post.Group) == 0 {
		return order
	}
	out := make(descriptor.Order, len(order))
	for i, g := range order {
		in := map[string]bool{}
		for _, e := range g.Group {
			in[e.ID] = true
		}
		var ng []descriptor.GroupEntry
		for _, e := range s.Pre.Group {
			if !in[e.ID] {
				ng = append(ng, e)
			}
		}
		ng = append(ng, g.Group...)
		for _, e := range s.Post.Group {
			if !in[e.ID] {
				ng = append(ng, e)
			}
		}
		g.Group = ng
		out[i] = g
	}
	return out
}
