package debian

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Package is one stanza of a Packages index.
type Package struct {
	Name       string
	Version    string
	Arch       string
	Filename   string
	SHA256     string
	Size       int64
	Depends    string
	PreDepends string
	Provides   []string
	Essential  bool
	Priority   string
}

// Index is a parsed Packages index.
type Index struct {
	byName   map[string]*Package
	provides map[string][]*Package
}

// Lookup returns the package called name, or one that provides name.
func (ix *Index) Lookup(name string) (*Package, bool) {
	if p, ok := ix.byName[name]; ok {
		return p, true
	}
	if ps := ix.provides[name]; len(ps) > 0 {
		return ps[0], true
	}
	return nil, false
}

// Len is the number of packages.
func (ix *Index) Len() int { return len(ix.byName) }

// ParsePackages reads a Packages index (deb822 stanzas). When a package
// appears more than once, the first stanza wins.
func ParsePackages(r io.Reader) (*Index, error) {
	ix := &Index{byName: map[string]*Package{}, provides: map[string][]*Package{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	fields := map[string]string{}
	last := ""
	line := 0
	flush := func() error {
		defer func() { fields = map[string]string{}; last = "" }()
		if len(fields) == 0 {
			return nil
		}
		p := &Package{
			Name: fields["Package"], Version: fields["Version"], Arch: fields["Architecture"],
			Filename: fields["Filename"], SHA256: fields["SHA256"],
			Depends: fields["Depends"], PreDepends: fields["Pre-Depends"],
			Essential: fields["Essential"] == "yes", Priority: fields["Priority"],
		}
		if p.Name == "" {
			return fmt.Errorf("line %d: a stanza without a Package field", line)
		}
		if s := fields["Size"]; s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return fmt.Errorf("line %d: package %s: bad Size %q", line, p.Name, s)
			}
			p.Size = n
		}
		for _, pr := range strings.Split(fields["Provides"], ",") {
			name := strings.TrimSpace(pr)
			if i := strings.IndexAny(name, " ("); i >= 0 {
				name = name[:i]
			}
			if name != "" {
				p.Provides = append(p.Provides, name)
			}
		}
		if _, dup := ix.byName[p.Name]; dup {
			return nil
		}
		ix.byName[p.Name] = p
		for _, pr := range p.Provides {
			ix.provides[pr] = append(ix.provides[pr], p)
		}
		return nil
	}
	for sc.Scan() {
		line++
		text := sc.Text()
		if strings.TrimSpace(text) == "" {
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		if text[0] == ' ' || text[0] == '\t' {
			if last == "" {
				return nil, fmt.Errorf("line %d: continuation line without a field", line)
			}
			// continuation lines only matter for Description, which is unused
			continue
		}
		k, v, ok := strings.Cut(text, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: %q is not a field", line, text)
		}
		last = k
		fields[k] = strings.TrimSpace(v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading Packages: %w", err)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	for _, ps := range ix.provides {
		sort.SliceStable(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	}
	return ix, nil
}

// BaseSystem reports whether a layer should leave p to the run image: the
// C library and the GCC runtime it needs (copies of these must never
// shadow the run image's own), and Essential programs (shells, dpkg,
// coreutils), which a runtime does not need. Essential libraries are
// installed anyway: a distroless run image may lack them.
func BaseSystem(p *Package) bool {
	if p.Essential && !strings.HasPrefix(p.Name, "lib") && p.Name != "zlib1g" {
		return true
	}
	switch p.Name {
	case "libc6", "libc-bin", "libgcc-s1":
		return true
	}
	return strings.HasPrefix(p.Name, "gcc-") && strings.HasSuffix(p.Name, "-base")
}

// alternatives parses a Depends field into groups of alternative package
// names, version constraints and architecture qualifiers dropped.
func alternatives(field string) [][]string {
	var out [][]string
	for _, group := range strings.Split(field, ",") {
		var alts []string
		for _, a := range strings.Split(group, "|") {
			name := strings.TrimSpace(a)
			if i := strings.IndexAny(name, " (["); i >= 0 {
				name = name[:i]
			}
			if i := strings.IndexByte(name, ':'); i >= 0 {
				name = name[:i]
			}
			if name != "" {
				alts = append(alts, name)
			}
		}
		if len(alts) > 0 {
			out = append(out, alts)
		}
	}
	return out
}

// Resolve returns roots and their Pre-Depends and Depends, recursively,
// leaving out packages skip returns true for (and what only they need).
// Of alternatives, one already chosen or skipped satisfies the group,
// else the first that exists is taken. The result is sorted by name.
func (ix *Index) Resolve(roots []string, skip func(*Package) bool) ([]*Package, error) {
	chosen := map[string]*Package{}
	skipped := map[string]bool{}
	satisfied := func(name string) bool {
		if chosen[name] != nil || skipped[name] {
			return true
		}
		for _, p := range ix.provides[name] {
			if chosen[p.Name] != nil || skipped[p.Name] {
				return true
			}
		}
		return false
	}
	var visit func(p *Package, via string) error
	visit = func(p *Package, via string) error {
		if chosen[p.Name] != nil || skipped[p.Name] {
			return nil
		}
		if skip != nil && skip(p) {
			skipped[p.Name] = true
			return nil
		}
		chosen[p.Name] = p
		for _, group := range append(alternatives(p.PreDepends), alternatives(p.Depends)...) {
			done := false
			for _, a := range group {
				if satisfied(a) {
					done = true
					break
				}
			}
			if done {
				continue
			}
			var dep *Package
			for _, a := range group {
				if d, ok := ix.Lookup(a); ok {
					dep = d
					break
				}
			}
			if dep == nil {
				return fmt.Errorf("package %s (needed by %s) depends on %s, which the index does not have", p.Name, via, strings.Join(group, " | "))
			}
			if err := visit(dep, p.Name); err != nil {
				return err
			}
		}
		return nil
	}
	for _, r := range roots {
		p, ok := ix.Lookup(r)
		if !ok {
			return nil, fmt.Errorf("package %s is not in the index", r)
		}
		if err := visit(p, r); err != nil {
			return nil, err
		}
	}
	out := make([]*Package, 0, len(chosen))
	for _, p := range chosen {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
