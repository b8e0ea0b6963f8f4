package semver

import (
	"fmt"
	"strings"

	mm "github.com/Masterminds/semver/v3"
)

// Version is a semantic version (Masterminds/semver's type).
type Version = mm.Version

// Parse parses a full version such as "1.2.3", "v20.11.1" or
// "1.0.0-rc.1+build.5". A leading "v" or "=" is allowed, as npm allows
// them; the rest must be strict semver (three numbers, no leading zeros),
// so "1.2" — which Masterminds' loose NewVersion would accept — is not a
// version here: npm treats it as a range.
func Parse(s string) (Version, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimPrefix(t, "=")
	t = strings.TrimPrefix(strings.TrimPrefix(t, "v"), "V")
	v, err := mm.StrictNewVersion(t)
	if err != nil {
		return Version{}, fmt.Errorf("version %q: %w", s, err)
	}
	return *v, nil
}

// MustParse is Parse for constants; it panics on error.
func MustParse(s string) Version {
	v, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return v
}

// Compare returns -1, 0 or 1 as a is lower than, equal to or higher than
// b, by semver precedence (build metadata ignored).
func Compare(a, b Version) int { return a.Compare(&b) }
