package semver

import (
	"fmt"
	"regexp"
	"strings"
)

// comparator is one primitive condition: op is one of <, <=, >, >=, =.
type comparator struct {
	op string
	v  Version
}

func (c comparator) matches(v Version) bool {
	d := Compare(v, c.v)
	switch c.op {
	case "<":
		return d < 0
	case "<=":
		return d <= 0
	case ">":
		return d > 0
	case ">=":
		return d >= 0
	}
	return d == 0
}

// Range is a parsed npm version range.
type Range struct {
	raw  string
	sets [][]comparator // alternatives (||), each a conjunction
}

func (r Range) String() string { return r.raw }

// partial is a version with possibly missing or wildcard parts.
type partial struct {
	n   int // how many of major, minor, patch are given (0-3)
	v   Version
	pre bool
}

var (
	hyphenRE = regexp.MustCompile(`^\s*(\S+)\s+-\s+(\S+)\s*$`)
	opSpace  = regexp.MustCompile(`(<=|>=|~>|<|>|=|~|\^)\s+`)
	opRE     = regexp.MustCompile(`^(<=|>=|~>|<|>|=|~|\^)?(.*)$`)
)

// ParseRange parses an npm range such as "^20.11", ">=18 <21",
// "18.x || 20.x", "16.14.0 - 16.20", "~20", "*" or "" (anything).
func ParseRange(s string) (Range, error) {
	if len(s) > 1024 {
		return Range{}, fmt.Errorf("version range is longer than 1024 characters")
	}
	r := Range{raw: strings.TrimSpace(s)}
	for _, alt := range strings.Split(s, "||") {
		set, err := parseSet(alt)
		if err != nil {
			return Range{}, fmt.Errorf("version range %q: %w", strings.TrimSpace(s), err)
		}
		r.sets = append(r.sets, set)
	}
	return r, nil
}

func parseSet(s string) ([]comparator, error) {
	if m := hyphenRE.FindStringSubmatch(s); m != nil {
		lo, err := parsePartial(m[1])
		if err != nil {
			return nil, err
		}
		hi, err := parsePartial(m[2])
		if err != nil {
			return nil, err
		}
		out := []comparator{{">=", lo.floor()}}
		switch hi.n {
		case 0:
		case 3:
			out = append(out, comparator{"<=", hi.v})
		default:
			out = append(out, comparator{"<", hi.bump()})
		}
		return out, nil
	}
	s = opSpace.ReplaceAllString(strings.TrimSpace(s), "$1")
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return []comparator{{">=", Version{}}}, nil
	}
	var out []comparator
	for _, f := range fields {
		m := opRE.FindStringSubmatch(f)
		p, err := parsePartial(m[2])
		if err != nil {
			return nil, err
		}
		c, err := desugar(m[1], p)
		if err != nil {
			return nil, err
		}
		out = append(out, c...)
	}
	return out, nil
}

func isWild(s string) bool { return s == "x" || s == "X" || s == "*" }

// parsePartial parses "1", "1.2", "1.x", "1.2.3-rc.1", "*", "v1".
func parsePartial(s string) (partial, error) {
	orig := s
	s = strings.TrimPrefix(strings.TrimPrefix(s, "="), "v")
	var p partial
	rest := s
	if i := strings.IndexByte(rest, '+'); i >= 0 {
		rest = rest[:i] // build metadata is ignored in ranges
	}
	if i := strings.IndexByte(rest, '-'); i >= 0 {
		pre := rest[i+1:]
		rest = rest[:i]
		if pre == "" || !validIdents(pre, true) {
			return p, fmt.Errorf("%q: bad prerelease", orig)
		}
		p.v.Pre = strings.Split(pre, ".")
		p.pre = true
	}
	if rest == "" || isWild(rest) {
		if p.pre {
			return p, fmt.Errorf("%q: a prerelease needs a full version", orig)
		}
		return p, nil
	}
	parts := strings.Split(rest, ".")
	if len(parts) > 3 {
		return p, fmt.Errorf("%q: too many parts", orig)
	}
	nums := []*uint64{&p.v.Major, &p.v.Minor, &p.v.Patch}
	for i, part := range parts {
		if isWild(part) {
			break
		}
		n, err := parseNum(part)
		if err != nil {
			return p, fmt.Errorf("%q: %w", orig, err)
		}
		*nums[i] = n
		p.n = i + 1
	}
	for _, part := range parts[p.n:] {
		if !isWild(part) {
			return p, fmt.Errorf("%q: a number after a wildcard", orig)
		}
	}
	if p.pre && p.n < 3 {
		return p, fmt.Errorf("%q: a prerelease needs a full version", orig)
	}
	return p, nil
}

// floor is the lowest version p stands for.
func (p partial) floor() Version {
	v := p.v
	if p.n < 3 {
		v.Patch = 0
	}
	if p.n < 2 {
		v.Minor = 0
	}
	if p.n < 1 {
		v.Major = 0
	}
	return v
}

// bump is the lowest version above everything p stands for (p.n is 1 or
// 2), as a "-0" prerelease so that no prerelease of it matches.
func (p partial) bump() Version {
	v := Version{Pre: []string{"0"}}
	switch p.n {
	case 1:
		v.Major = p.v.Major + 1
	case 2:
		v.Major, v.Minor = p.v.Major, p.v.Minor+1
	}
	return v
}

var nothing = []comparator{{"<", Version{Pre: []string{"0"}}}}

func desugar(op string, p partial) ([]comparator, error) {
	all := []comparator{{">=", Version{}}}
	switch op {
	case "", "=":
		switch p.n {
		case 0:
			return all, nil
		case 3:
			return []comparator{{"=", p.v}}, nil
		}
		return []comparator{{">=", p.floor()}, {"<", p.bump()}}, nil
	case ">":
		switch p.n {
		case 0:
			return nothing, nil
		case 3:
			return []comparator{{">", p.v}}, nil
		}
		return []comparator{{">=", withoutPre(p.bump())}}, nil
	case ">=":
		return []comparator{{">=", p.floor()}}, nil
	case "<":
		switch p.n {
		case 0:
			return nothing, nil
		case 3:
			return []comparator{{"<", p.v}}, nil
		}
		v := p.floor()
		v.Pre = []string{"0"}
		return []comparator{{"<", v}}, nil
	case "<=":
		switch p.n {
		case 0:
			return all, nil
		case 3:
			return []comparator{{"<=", p.v}}, nil
		}
		return []comparator{{"<", p.bump()}}, nil
	case "~", "~>":
		switch p.n {
		case 0:
			return all, nil
		case 1:
			return []comparator{{">=", p.floor()}, {"<", p.bump()}}, nil
		}
		hi := Version{Major: p.v.Major, Minor: p.v.Minor + 1, Pre: []string{"0"}}
		return []comparator{{">=", p.floor()}, {"<", hi}}, nil
	case "^":
		lo := p.floor()
		var hi Version
		switch {
		case p.n == 0:
			return all, nil
		case p.v.Major > 0 || p.n == 1:
			hi = Version{Major: p.v.Major + 1}
		case p.v.Minor > 0 || p.n == 2:
			hi = Version{Minor: p.v.Minor + 1}
		default:
			hi = Version{Patch: p.v.Patch + 1}
		}
		hi.Pre = []string{"0"}
		return []comparator{{">=", lo}, {"<", hi}}, nil
	}
	return nil, fmt.Errorf("unknown operator %q", op)
}

func withoutPre(v Version) Version {
	v.Pre = nil
	return v
}

// Contains reports whether v satisfies r. A prerelease satisfies an
// alternative only if that alternative names a prerelease of the same
// major.minor.patch.
func (r Range) Contains(v Version) bool {
	for _, set := range r.sets {
		if setContains(set, v) {
			return true
		}
	}
	return false
}

func setContains(set []comparator, v Version) bool {
	for _, c := range set {
		if !c.matches(v) {
			return false
		}
	}
	if !v.Prerelease() {
		return true
	}
	for _, c := range set {
		if c.v.Prerelease() && c.v.Major == v.Major && c.v.Minor == v.Minor && c.v.Patch == v.Patch {
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
