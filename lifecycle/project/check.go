package project

import (
	"fmt"
	"strings"

	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// check applies the rules of the spec that decoding cannot.
func (d *Descriptor) check() error {
	incl, excl := "io.buildpacks.include", "io.buildpacks.exclude"
	if d.SchemaVersion == "0.1" {
		incl, excl = "build.include", "build.exclude"
	}
	for _, pfx := range []string{"oci:", "docker-archive:", "docker://"} {
		if strings.HasPrefix(d.Builder, pfx) {
			return fmt.Errorf("builder %q: a project names a builder image by its name in a registry or the local store", d.Builder)
		}
	}
	if len(d.Include) > 0 && len(d.Exclude) > 0 {
		return fmt.Errorf("%s and %s exclude each other: give one of them", incl, excl)
	}
	for _, p := range append(append([]string{}, d.Include...), d.Exclude...) {
		if strings.ContainsRune(p, 0) || strings.ContainsAny(p, "\n\r") {
			return fmt.Errorf("pattern %q: control characters are not allowed", p)
		}
	}
	groups := []struct {
		key string
		bps []Buildpack
	}{{"io.buildpacks.group", d.Group}, {"io.buildpacks.pre.group", d.Pre}, {"io.buildpacks.post.group", d.Post}}
	if d.SchemaVersion == "0.1" {
		groups = groups[:1]
		groups[0].key = "build.buildpacks"
	}
	for _, g := range groups {
		for i, bp := range g.bps {
			if err := bp.check(); err != nil {
				return fmt.Errorf("%s entry %d: %w", g.key, i+1, err)
			}
		}
	}
	envKey := "io.buildpacks.build.env"
	if d.SchemaVersion == "0.1" {
		envKey = "build.env"
	}
	for i, e := range d.Env {
		if e.Name == "" || strings.ContainsAny(e.Name, "=/\x00") || e.Name == "." || e.Name == ".." {
			return fmt.Errorf("%s entry %d: name %q is not a variable name", envKey, i+1, e.Name)
		}
	}
	return nil
}

func (b Buildpack) check() error {
	switch {
	case b.Script != nil:
		if b.URI != "" {
			return fmt.Errorf("give a uri or a script, not both")
		}
		if b.ID == "" {
			return fmt.Errorf("an inline buildpack (script) needs an id")
		}
		if b.Script.API == "" || b.Script.Inline == "" {
			return fmt.Errorf("script of %s: api and inline are required", b.ID)
		}
		if _, err := descriptor.ParseAPI(b.Script.API); err != nil {
			return fmt.Errorf("script of %s: api: %w", b.ID, err)
		}
		if strings.ContainsAny(b.Script.Shell, "\n\r\x00") {
			return fmt.Errorf("script of %s: shell %q is not one line", b.ID, b.Script.Shell)
		}
	case b.ID == "" && b.URI == "":
		return fmt.Errorf("give an id, a uri or a script")
	}
	if strings.ContainsAny(b.ID, "@ \t\n\x00") || strings.Contains(b.ID, "..") {
		return fmt.Errorf("id %q is not a buildpack id", b.ID)
	}
	return nil
}
