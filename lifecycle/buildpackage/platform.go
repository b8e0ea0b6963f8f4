package buildpackage

import (
	"strings"

	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// Platforms are the os/arch/variant of package.toml's [[targets]] with an
// architecture, in file order: a package image per platform, written as
// one index, when there is more than one.
func (c *Config) Platforms() []ConfigTarget {
	var out []ConfigTarget
	for _, t := range c.Targets {
		if t.Arch != "" {
			out = append(out, t)
		}
	}
	return out
}

// checkTarget fails when the package is made for arch (variant) but the
// entrypoint buildpack declares targets and none of them is for it, or
// package.toml lists targets and none is; the error names the buildpack
// or the file.
func checkTarget(cfg *Config, entry Buildpack, arch, variant string) error {
	want := "linux/" + arch
	if variant != "" {
		want += "/" + variant
	}
	// the build's own rule, so a package is not refused for a buildpack
	// the build would run
	rt := descriptor.RunTarget{OS: "linux", Arch: arch, ArchVariant: variant}
	match := func(os, a, v string) bool { return rt.Matches(descriptor.Target{OS: os, Arch: a, Variant: v}) }
	if len(cfg.Targets) > 0 {
		ok := false
		var listed []string
		for _, t := range cfg.Targets {
			ok = ok || match(t.OS, t.Arch, t.Variant)
			listed = append(listed, strings.TrimSuffix(t.OS+"/"+t.Arch+"/"+t.Variant, "/"))
		}
		if !ok {
			return inputErrorf("%s: [[targets]] are %s: none is %s", cfg.Path, strings.Join(listed, ", "), want)
		}
	}
	ts := entry.Descriptor.Targets
	if len(ts) == 0 {
		return nil
	}
	var have []string
	for _, t := range ts {
		if match(t.OS, t.Arch, t.Variant) {
			return nil
		}
		have = append(have, strings.TrimSuffix(t.OS+"/"+t.Arch+"/"+t.Variant, "/"))
	}
	return inputErrorf("buildpack %s has no target for %s (its [[targets]]: %s)", entry.Ref(), want, strings.Join(have, ", "))
}
