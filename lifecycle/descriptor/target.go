package descriptor

// Target is one [[targets]] entry of buildpack.toml: a runtime environment
// the buildpack supports. An empty field matches anything.
type Target struct {
	OS      string   `toml:"os,omitempty"`
	Arch    string   `toml:"arch,omitempty"`
	Variant string   `toml:"variant,omitempty"`
	Distros []Distro `toml:"distros,omitempty"`
}

// Distro is one [[targets.distros]] entry: an OS distribution as named in
// /etc/os-release (ID and VERSION_ID). An empty field matches anything.
type Distro struct {
	Name    string `toml:"name,omitempty"`
	Version string `toml:"version,omitempty"`
}

// RunTarget describes the run image a build targets, as the platform knows
// it from the image config (os, architecture, variant) and the labels
// io.buildpacks.base.distro.name / .version. Empty fields are unknown.
type RunTarget struct {
	OS            string
	Arch          string
	ArchVariant   string
	DistroName    string
	DistroVersion string
}

// Env returns the CNB_TARGET_* variables the lifecycle sets for bin/detect
// and bin/build. Unknown (empty) values are left out.
func (t RunTarget) Env() []string {
	var env []string
	add := func(k, v string) {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	add("CNB_TARGET_OS", t.OS)
	add("CNB_TARGET_ARCH", t.Arch)
	add("CNB_TARGET_ARCH_VARIANT", t.ArchVariant)
	add("CNB_TARGET_DISTRO_NAME", t.DistroName)
	add("CNB_TARGET_DISTRO_VERSION", t.DistroVersion)
	return env
}

// Matches reports whether the buildpack target bt supports t: os, arch and
// variant match, and when bt lists distros, at least one of them matches.
// A field that is empty (or "*") on either side matches anything.
func (t RunTarget) Matches(bt Target) bool {
	if !fieldMatches(t.OS, bt.OS) || !fieldMatches(t.Arch, bt.Arch) || !fieldMatches(t.ArchVariant, bt.Variant) {
		return false
	}
	if len(bt.Distros) == 0 {
		return true
	}
	for _, d := range bt.Distros {
		if fieldMatches(t.DistroName, d.Name) && fieldMatches(t.DistroVersion, d.Version) {
			return true
		}
	}
	return false
}

// MatchesAny reports whether any of targets supports t. An empty list
// matches every run image: [ReadBuildpack] has already replaced an empty
// list by the spec's inferred target where one applies.
func (t RunTarget) MatchesAny(targets []Target) bool {
	if len(targets) == 0 {
		return true
	}
	for _, bt := range targets {
		if t.Matches(bt) {
			return true
		}
	}
	return false
}

func fieldMatches(a, b string) bool {
	return a == "" || b == "" || a == "*" || b == "*" || a == b
}
