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

// vars returns the CNB_TARGET_* variables with t's values, empty when
// unknown.
func (t RunTarget) vars() [5][2]string {
	return [5][2]string{
		{"CNB_TARGET_OS", t.OS},
		{"CNB_TARGET_ARCH", t.Arch},
		{"CNB_TARGET_ARCH_VARIANT", t.ArchVariant},
		{"CNB_TARGET_DISTRO_NAME", t.DistroName},
		{"CNB_TARGET_DISTRO_VERSION", t.DistroVersion},
	}
}

// Env returns the CNB_TARGET_* variables the lifecycle sets for bin/detect
// and bin/build. Unknown (empty) values are left out.
func (t RunTarget) Env() []string {
	var env []string
	for _, kv := range t.vars() {
		if kv[1] != "" {
			env = append(env, kv[0]+"="+kv[1])
		}
	}
	return env
}

// SetEnv puts the CNB_TARGET_* variables of t into an environment through
// its set and unset functions (such as those of an env.Env): known values
// are set, unknown ones unset, so that no stale value from the image or
// the platform's env files describes the target; only the lifecycle does.
func (t RunTarget) SetEnv(set func(name, value string), unset func(name string)) {
	for _, kv := range t.vars() {
		if kv[1] != "" {
			set(kv[0], kv[1])
		} else {
			unset(kv[0])
		}
	}
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
