package builder

import (
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/lifecycle/buildpackage"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// checkPlatform checks a builder made for platform p: the file's
// [[targets]], when it has any, must list p, and every buildpack that
// declares targets must declare one for p. Errors name the file and the
// buildpack.
func checkPlatform(cfg *Config, p v1.Platform, bps []buildpackage.Buildpack) error {
	want := ConfigTarget{OS: p.OS, Arch: p.Architecture, Variant: p.Variant}
	if len(cfg.Targets) > 0 {
		var listed []string
		found := false
		for _, t := range cfg.Targets {
			listed = append(listed, t.String())
			if t.OS == p.OS && t.Arch == p.Architecture && (t.Variant == "" || p.Variant == "" || t.Variant == p.Variant) {
				found = true
			}
		}
		if !found {
			return bad("%s: [[targets]] are %s: no target for platform %s", cfg.Path, strings.Join(listed, ", "), want)
		}
	}
	for _, b := range bps {
		if !hasTarget(b.Descriptor.Targets, p) {
			var have []string
			for _, t := range b.Descriptor.Targets {
				have = append(have, ConfigTarget{OS: t.OS, Arch: t.Arch, Variant: t.Variant}.String())
			}
			return bad("%s: %s %s has no target for platform %s (its [[targets]]: %s)", cfg.Path, b.Descriptor.Kind, b.Ref(), want, strings.Join(have, ", "))
		}
	}
	return nil
}

// hasTarget reports whether a buildpack with targets runs on p: the
// build's own rule (descriptor.RunTarget.MatchesAny), so a builder is not
// refused for a buildpack the build would run.
func hasTarget(targets []descriptor.Target, p v1.Platform) bool {
	return descriptor.RunTarget{OS: p.OS, Arch: p.Architecture, ArchVariant: p.Variant}.MatchesAny(targets)
}
