package semver

import (
	"fmt"
	"regexp"
	"strings"

	mm "github.com/Masterminds/semver/v3"
)

// Range is a parsed npm version range.
//
// Matching is Masterminds/semver's, which implements npm's operators,
// X-ranges, tilde, caret and hyphen ranges. This type adds only what npm
// does differently:
//
//   - a prerelease satisfies an alternative (one side of ||) only if that
//     alternative names a prerelease of the same major.minor.patch
//     (">=1.0.0-rc.1" contains 1.0.0-rc.2 but not 1.0.1-rc.1).
//     Masterminds lets any prerelease through once an alternative names
//     one, so each alternative is checked with IncludePrerelease and the
//     npm rule is applied here;
//   - an empty alternative means any version in npm; Masterminds refuses
//     it;
//   - Masterminds also accepts "," between comparators, "!=", a number
//     after a wildcard ("1.x.3") and a prerelease on a partial version
//     (">=1.2-rc.1", read as 1.2.0-rc.1); none is npm syntax and all are
//     refused.
type Range struct {
	raw  string
	alts []alternative
}

type alternative struct {
	c   *mm.Constraints
	pre []*mm.Version // the prereleases this alternative names
}

func (r Range) String() string { return r.raw }

var (
	// preRE finds versions with a prerelease in a range; notNpmRE finds a
	// prerelease after fewer than three numbers or a number after a
	// wildcard.
	preRE    = regexp.MustCompile(`\d+\.\d+\.\d+-[0-9A-Za-z.-]+`)
	notNpmRE = regexp.MustCompile(`(^|[\s<>=~^])v?(\d+(\.\d+)?-|(\d+\.)?[xX*]\.\d)`)
)

// ParseRange parses an npm range such as "^20.11", ">=18 <21",
// "18.x || 20.x", "16.14.0 - 16.20", "~20", "*" or "" (anything).
func ParseRange(s string) (Range, error) {
	raw := strings.TrimSpace(s)
	bad := func(err error) (Range, error) {
		return Range{}, fmt.Errorf("version range %q: %w", raw, err)
	}
	if strings.ContainsAny(s, ",!") {
		return bad(fmt.Errorf("not npm range syntax"))
	}
	r := Range{raw: raw}
	for _, a := range strings.Split(s, "||") {
		a = strings.TrimSpace(a)
		if notNpmRE.MatchString(a) {
			return bad(fmt.Errorf("not npm range syntax"))
		}
		if a == "" {
			a = "*"
		}
		c, err := mm.NewConstraint(a)
		if err != nil {
			return bad(err)
		}
		c.IncludePrerelease = true
		alt := alternative{c: c}
		for _, p := range preRE.FindAllString(a, -1) {
			v, err := mm.StrictNewVersion(p)
			if err != nil {
				return bad(err)
			}
			alt.pre = append(alt.pre, v)
		}
		r.alts = append(r.alts, alt)
	}
	return r, nil
}

// Contains reports whether v satisfies r.
func (r Range) Contains(v Version) bool {
	for _, a := range r.alts {
		if a.contains(&v) {
			return true
		}
	}
	return false
}

func (a alternative) contains(v *mm.Version) bool {
	if !a.c.Check(v) {
		return false
	}
	if v.Prerelease() == "" {
		return true
	}
	for _, p := range a.pre {
		if p.Major() == v.Major() && p.Minor() == v.Minor() && p.Patch() == v.Patch() {
			return true
		}
	}
	return false
}

// MaxSatisfying returns the highest of versions that r contains.
func MaxSatisfying(versions []Version, r Range) (Version, bool) {
	var best Version
	found := false
	for _, v := range versions {
		if r.Contains(v) && (!found || Compare(v, best) > 0) {
			best, found = v, true
		}
	}
	return best, found
}
