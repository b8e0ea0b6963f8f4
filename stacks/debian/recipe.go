package debian

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/kiln-build/kiln/stacks/debian/accounts"
)

// Defaults filled in for empty Recipe fields.
const (
	DefaultMirror  = "http://deb.debian.org/debian"
	DefaultVariant = "minbase"
	DefaultUser    = "cnb"
	DefaultUID     = 1000
	DefaultPath    = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// Image kinds.
const (
	KindBuild = "build"
	KindRun   = "run"
)

// DefaultTime is the fixed time used when neither the recipe nor the
// packages' changelogs give one: the constant CNB tools use.
var DefaultTime = time.Date(1980, time.January, 1, 0, 0, 1, 0, time.UTC)

// Recipe describes one stack image. Its toml keys are those of a
// stack.toml image table; the json form (same keys) is what the cache key
// hashes.
type Recipe struct {
	// Suite is the Debian release: a code name (bookworm) or a symbolic
	// name (stable). Required.
	Suite string `toml:"suite" json:"suite"`
	// Mirror is the package mirror URL (default DefaultMirror).
	Mirror string `toml:"mirror" json:"mirror"`
	// Components are the archive areas (default ["main"]).
	Components []string `toml:"components" json:"components"`
	// Sources are extra complete sources.list lines, such as
	// "deb http://deb.debian.org/debian-security bookworm-security main".
	Sources []string `toml:"sources" json:"sources"`
	// Variant is mmdebstrap's package set: essential, apt, minbase,
	// required, important, standard, buildd, debootstrap, custom, extract
	// (default DefaultVariant).
	Variant string `toml:"variant" json:"variant"`
	// Packages are installed on top of the variant.
	Packages []string `toml:"packages" json:"packages"`
	// Arch is the Debian architecture (default: the host's).
	Arch string `toml:"arch" json:"arch"`

	// Kind is KindBuild (default) or KindRun.
	Kind string `toml:"kind" json:"kind"`
	// User and Group name the CNB user and its primary group (default
	// DefaultUser for both).
	User  string `toml:"user" json:"user"`
	Group string `toml:"group" json:"group"`
	// UID and GID of the CNB user; 0 means DefaultUID, and GID defaults
	// to UID.
	UID int `toml:"uid" json:"uid"`
	GID int `toml:"gid" json:"gid"`
	// RootUser makes a run image's config User root instead of the CNB
	// user. Build images always run as the CNB user.
	RootUser bool `toml:"root-user" json:"root-user"`

	// StackID, when set, becomes the io.buildpacks.stack.id and
	// io.buildpacks.base.id labels and CNB_STACK_ID.
	StackID string `toml:"stack-id" json:"stack-id"`
	// Env is added to the image environment; it may override PATH but
	// not the CNB_* variables kiln sets.
	Env map[string]string `toml:"env" json:"env"`
	// Labels are added to the image config.
	Labels map[string]string `toml:"labels" json:"labels"`
	// Remove lists absolute paths or path.Match patterns dropped from the
	// root file system after installation, with everything below them
	// (for example /usr/bin/apt* or /var/lib/apt). Each must match.
	Remove []string `toml:"remove" json:"remove"`
	// SourceDateEpoch, in seconds, fixes the image's times. When 0 the
	// date of the newest installed package's changelog entry is used.
	SourceDateEpoch int64 `toml:"source-date-epoch" json:"source-date-epoch"`
}

// Labels kiln sets itself; a recipe may not set them.
const (
	LabelDistroName    = "io.buildpacks.base.distro.name"
	LabelDistroVersion = "io.buildpacks.base.distro.version"
	LabelReleased      = "io.buildpacks.base.released"
	LabelBaseID        = "io.buildpacks.base.id"
	LabelStackID       = "io.buildpacks.stack.id"
	// LabelPackages holds the installed packages as a JSON array of
	// "name:arch=version" strings.
	LabelPackages = "io.kiln.packages"
)

var (
	variants      = []string{"extract", "custom", "essential", "apt", "required", "minbase", "buildd", "important", "debootstrap", "standard"}
	suitePattern  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]*$`)
	pkgPattern    = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]*(:[a-z0-9-]+)?([=/][A-Za-z0-9.+~:-]+)?$`)
	envPattern    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	stackIDRegexp = regexp.MustCompile(`^[A-Za-z0-9./-]+$`)
	reservedEnv   = []string{"CNB_USER_ID", "CNB_GROUP_ID", "CNB_STACK_ID"}
	reservedLabel = []string{LabelDistroName, LabelDistroVersion, LabelReleased, LabelBaseID, LabelStackID, LabelPackages}
)

// ReservedLabel reports whether Build sets the label k itself, so that a
// recipe may not.
func ReservedLabel(k string) bool { return slices.Contains(reservedLabel, k) }

// normalize returns r with defaults filled in and order-insensitive lists
// sorted, so that equivalent recipes have one form and one cache key.
func (r Recipe) normalize() Recipe {
	n := r
	if n.Mirror == "" {
		n.Mirror = DefaultMirror
	}
	if len(n.Components) == 0 {
		n.Components = []string{"main"}
	} else {
		n.Components = slices.Clone(n.Components)
	}
	n.Sources = slices.Clone(n.Sources)
	if n.Variant == "" {
		n.Variant = DefaultVariant
	}
	if n.Arch == "" {
		n.Arch = hostArch()
	}
	if n.Kind == "" {
		n.Kind = KindBuild
	}
	if n.User == "" {
		n.User = DefaultUser
	}
	if n.Group == "" {
		n.Group = n.User
	}
	if n.UID == 0 {
		n.UID = DefaultUID
	}
	if n.GID == 0 {
		n.GID = n.UID
	}
	n.Packages = sortedUnique(n.Packages)
	n.Remove = sortedUnique(n.Remove)
	n.Env = maps.Clone(n.Env)
	n.Labels = maps.Clone(n.Labels)
	return n
}

func sortedUnique(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}

// validate checks a normalized recipe, naming the offending key.
func (r Recipe) validate() error {
	bad := func(key string, format string, args ...any) error {
		return fmt.Errorf("recipe %s: %s", key, fmt.Sprintf(format, args...))
	}
	if r.Suite == "" {
		return bad("suite", "required (for example bookworm)")
	}
	if !suitePattern.MatchString(r.Suite) {
		return bad("suite", "%q is not a suite name", r.Suite)
	}
	if strings.ContainsAny(r.Mirror, " \t\n") || !strings.Contains(r.Mirror, ":") {
		return bad("mirror", "%q is not a URL", r.Mirror)
	}
	for _, c := range r.Components {
		if !suitePattern.MatchString(c) {
			return bad("components", "%q is not a component name", c)
		}
	}
	for _, s := range r.Sources {
		if strings.ContainsAny(s, "\n\r") || !(strings.HasPrefix(s, "deb ") || strings.HasPrefix(s, "deb-src ")) {
			return bad("sources", "%q is not a one-line sources.list entry", s)
		}
	}
	if !slices.Contains(variants, r.Variant) {
		return bad("variant", "%q is not one of %s", r.Variant, strings.Join(variants, ", "))
	}
	for _, p := range r.Packages {
		if !pkgPattern.MatchString(p) {
			return bad("packages", "%q is not a Debian package name (optionally with :arch and =version or /release)", p)
		}
	}
	if _, ok := debianArchs[r.Arch]; !ok {
		return bad("arch", "%q is not a Debian architecture kiln knows", r.Arch)
	}
	if r.Kind != KindBuild && r.Kind != KindRun {
		return bad("kind", "%q: want %q or %q", r.Kind, KindBuild, KindRun)
	}
	if r.RootUser && r.Kind != KindRun {
		return bad("root-user", "only a run image may run as root; build images run as the CNB user")
	}
	if !accounts.ValidName(r.User) {
		return bad("user", "%q is not a valid user name", r.User)
	}
	if !accounts.ValidName(r.Group) {
		return bad("group", "%q is not a valid group name", r.Group)
	}
	if r.UID < 1 || r.UID > 1<<32-2 {
		return bad("uid", "%d out of range", r.UID)
	}
	if r.GID < 1 || r.GID > 1<<32-2 {
		return bad("gid", "%d out of range", r.GID)
	}
	if r.StackID != "" && !stackIDRegexp.MatchString(r.StackID) {
		return bad("stack-id", "%q may hold only letters, digits, '.', '/' and '-'", r.StackID)
	}
	for k, v := range r.Env {
		if !envPattern.MatchString(k) {
			return bad("env", "%q is not a variable name", k)
		}
		if slices.Contains(reservedEnv, k) {
			return bad("env", "%s is set by kiln from uid, gid and stack-id", k)
		}
		if strings.ContainsRune(v, 0) {
			return bad("env", "%s holds a NUL byte", k)
		}
	}
	for k := range r.Labels {
		if k == "" {
			return bad("labels", "empty label key")
		}
		if ReservedLabel(k) {
			return bad("labels", "%s is set by kiln", k)
		}
	}
	for _, p := range r.Remove {
		if !strings.HasPrefix(p, "/") || p == "/" || path.Clean(p) != p {
			return bad("remove", "%q: want a clean absolute path below /", p)
		}
		if _, err := path.Match(p, "/"); err != nil {
			return bad("remove", "%q: %v", p, err)
		}
	}
	if r.SourceDateEpoch < 0 {
		return bad("source-date-epoch", "%d is negative", r.SourceDateEpoch)
	}
	return nil
}

// cacheFormat names the layout of cached images and how they are made;
// bump it whenever Build would produce different bytes for a recipe.
const cacheFormat = "kiln-debian-stack/1"

// Key returns the cache key of the recipe: a SHA-256 over the normalized
// recipe and the cache format version.
func (r Recipe) Key() string {
	b, err := json.Marshal(r.normalize())
	if err != nil {
		panic(fmt.Sprintf("encoding recipe: %v", err)) // plain strings, ints and maps always encode
	}
	sum := sha256.Sum256(append([]byte(cacheFormat+"\n"), b...))
	return hex.EncodeToString(sum[:])
}

// Validate reports the first problem with the recipe, naming its key.
func (r Recipe) Validate() error { return r.normalize().validate() }
