package main

import (
	"fmt"
	"strconv"
	"strings"
)

// pyVersion is a release version such as 3.11.2, compared part by part.
type pyVersion []int

func parsePyVersion(s string) (pyVersion, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	if s == "" {
		return nil, fmt.Errorf("empty version")
	}
	var v pyVersion
	for _, p := range strings.Split(s, ".") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || len(p) > 6 {
			return nil, fmt.Errorf("%q is not a release version such as 3.11 or 3.11.2", s)
		}
		v = append(v, n)
	}
	return v, nil
}

func (v pyVersion) String() string {
	parts := make([]string, len(v))
	for i, n := range v {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ".")
}

// cmp compares like PEP 440 release segments: missing parts are zero.
func (v pyVersion) cmp(w pyVersion) int {
	for i := 0; i < len(v) || i < len(w); i++ {
		a, b := 0, 0
		if i < len(v) {
			a = v[i]
		}
		if i < len(w) {
			b = w[i]
		}
		switch {
		case a < b:
			return -1
		case a > b:
			return 1
		}
	}
	return 0
}

// hasPrefix reports whether v starts with the parts of p (for ==X.Y.*).
func (v pyVersion) hasPrefix(p pyVersion) bool {
	for i, n := range p {
		x := 0
		if i < len(v) {
			x = v[i]
		}
		if x != n {
			return false
		}
	}
	return true
}

// specifier is one PEP 440 version clause.
type specifier struct {
	op       string
	v        pyVersion
	wildcard bool
}

// specifierSet is a comma-separated PEP 440 specifier such as
// ">=3.9,<3.13" or "~=3.11"; an empty set matches everything.
type specifierSet struct {
	raw   string
	specs []specifier
}

// parseSpecifiers parses a PEP 440 specifier set for release versions
// (pre-, post- and dev-release segments are not supported).
func parseSpecifiers(s string) (specifierSet, error) {
	set := specifierSet{raw: strings.TrimSpace(s)}
	if set.raw == "" {
		return set, nil
	}
	for _, clause := range strings.Split(s, ",") {
		clause = strings.TrimSpace(clause)
		op := ""
		for _, o := range []string{"===", "==", "!=", "~=", ">=", "<=", ">", "<"} {
			if strings.HasPrefix(clause, o) {
				op = o
				break
			}
		}
		if op == "" {
			return set, fmt.Errorf("%q: a clause must start with ==, !=, ~=, >=, <=, > or <", clause)
		}
		rest := strings.TrimSpace(clause[len(op):])
		wildcard := false
		if r, ok := strings.CutSuffix(rest, ".*"); ok {
			if op != "==" && op != "!=" {
				return set, fmt.Errorf("%q: .* is only allowed with == and !=", clause)
			}
			rest, wildcard = r, true
		}
		v, err := parsePyVersion(rest)
		if err != nil {
			return set, fmt.Errorf("%q: %w", clause, err)
		}
		if op == "~=" && len(v) < 2 {
			return set, fmt.Errorf("%q: ~= needs at least two parts", clause)
		}
		set.specs = append(set.specs, specifier{op: op, v: v, wildcard: wildcard})
	}
	return set, nil
}

// contains reports whether v satisfies every clause.
func (s specifierSet) contains(v pyVersion) bool {
	for _, sp := range s.specs {
		c := v.cmp(sp.v)
		ok := false
		switch sp.op {
		case "==", "===":
			if sp.wildcard {
				ok = v.hasPrefix(sp.v)
			} else {
				ok = c == 0
			}
		case "!=":
			if sp.wildcard {
				ok = !v.hasPrefix(sp.v)
			} else {
				ok = c != 0
			}
		case ">=":
			ok = c >= 0
		case "<=":
			ok = c <= 0
		case ">":
			ok = c > 0
		case "<":
			ok = c < 0
		case "~=":
			// ~=3.11.2 means >=3.11.2, ==3.11.*
			ok = c >= 0 && v.hasPrefix(sp.v[:len(sp.v)-1])
		}
		if !ok {
			return false
		}
	}
	return true
}

func (s specifierSet) String() string { return s.raw }
