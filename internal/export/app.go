package export

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/lifecycle/launch"
)

// splitApp resolves the slices' globs in the listed app dir. Earlier
// slices claim files first. It returns the entries of each slice's layer
// and those left for the other app layers, as indices of l in walk order:
// a claimed path brings its subtree. The root is always left.
func splitApp(l *archive.Listing, ss []launch.Slice) ([][]int, []int, error) {
	if len(ss) == 0 {
		return nil, l.All(), nil
	}
	all := appPaths(l)
	c := claims{}
	out := make([][]int, len(ss))
	for i, s := range ss {
		paths, err := c.slice(all, s)
		if err != nil {
			return nil, nil, err
		}
		if out[i], err = members(l, paths); err != nil {
			return nil, nil, err
		}
	}
	rest, err := members(l, c.rest(all))
	if err != nil {
		return nil, nil, err
	}
	if len(rest) == 0 || rest[0] != 0 {
		rest = append([]int{0}, rest...) // the app dir itself
	}
	return out, rest, nil
}

// members are the indices of paths and their subtrees in l, sorted.
func members(l *archive.Listing, paths []string) ([]int, error) {
	var out []int
	for _, p := range paths {
		i, ok := l.Index(filepath.ToSlash(p))
		if !ok {
			return nil, fmt.Errorf("app path %s is not in the listing", p)
		}
		for j, end := i, l.Subtree(i); j < end; j++ {
			out = append(out, j)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// claims are the app paths slices took.
type claims map[string]bool

// has says whether rel or a directory above it is claimed.
func (c claims) has(rel string) bool {
	for p := rel; p != "." && p != "/" && p != ""; p = filepath.Dir(p) {
		if c[p] {
			return true
		}
	}
	return false
}

// slice claims the paths of s not claimed yet and returns them, sorted.
func (c claims) slice(all []appPath, s launch.Slice) ([]string, error) {
	var out []string
	for _, pat := range s.Paths {
		if filepath.IsAbs(pat) || strings.HasPrefix(filepath.Clean(pat), "..") {
			return nil, fmt.Errorf("slice path %q must be relative to the app dir", pat)
		}
		matches, err := matchPaths(all, filepath.Clean(pat))
		if err != nil {
			return nil, fmt.Errorf("slice path %q: %w", pat, err)
		}
		for _, rel := range matches {
			if c.has(rel) {
				continue
			}
			c[rel] = true
			out = append(out, rel)
		}
	}
	sort.Strings(out)
	return out, nil
}

// rest lists what no slice claimed: whole directories where nothing
// beneath them is claimed, else their unclaimed entries. all is the app
// dir in walk order (see appPaths).
func (c claims) rest(all []appPath) []string {
	above := c.above()
	rest := []string{}
	skip := "" // a directory whose entries are dealt with
	for _, p := range all {
		rel := p.rel
		switch {
		case skip != "" && strings.HasPrefix(rel, skip+string(filepath.Separator)):
			continue
		case c.has(rel):
			skip = rel
			continue
		case p.dir && above[rel]:
			continue // walked into
		}
		rest = append(rest, rel)
		skip = rel
	}
	slices.Sort(rest)
	return rest
}

// above is the set of directories with a claimed path beneath them,
// found once rather than by scanning every claim for each directory.
func (c claims) above() map[string]bool {
	out := map[string]bool{}
	for p := range c {
		for d := filepath.Dir(p); d != "." && d != "/" && !out[d]; d = filepath.Dir(d) {
			out[d] = true
		}
	}
	return out
}

// appPath is a path beneath the app dir, relative, and whether it is a
// directory.
type appPath struct {
	rel string
	dir bool
}

// appPaths lists every path beneath the listed app dir in walk order
// (depth first, lexical). The listing follows no symlink: a slice's glob
// matches what the app dir holds, never what a link in it points to.
func appPaths(l *archive.Listing) []appPath {
	out := make([]appPath, 0, len(l.Entries))
	for _, e := range l.Entries {
		if e.Rel != "." {
			out = append(out, appPath{filepath.FromSlash(e.Rel), e.Mode.IsDir()})
		}
	}
	return out
}

// matchPaths returns the paths pat matches, as filepath.Glob would in the
// app dir but without going through symlinked directories.
func matchPaths(paths []appPath, pat string) ([]string, error) {
	var out []string
	for _, p := range paths {
		ok, err := filepath.Match(pat, p.rel)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, p.rel)
		}
	}
	if _, err := filepath.Match(pat, ""); err != nil {
		return nil, err
	}
	return out, nil
}
