package export

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/kiln-build/kiln/lifecycle/launch"
)

// splitApp resolves the slices' globs inside appDir. Earlier slices claim
// files first. It returns the paths of each slice and the paths left for
// the last app layer (nil when there are no slices: everything).
func splitApp(appDir string, ss []launch.Slice) ([][]string, []string, error) {
	if len(ss) == 0 {
		return nil, nil, nil
	}
	all, err := appPaths(appDir)
	if err != nil {
		return nil, nil, err
	}
	c := claims{}
	out := make([][]string, len(ss))
	for i, s := range ss {
		if out[i], err = c.slice(all, s); err != nil {
			return nil, nil, err
		}
	}
	return out, c.rest(all), nil
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
		case p.dir && c.beneath(rel):
			continue // walked into
		}
		rest = append(rest, rel)
		skip = rel
	}
	slices.Sort(rest)
	return rest
}

// beneath says whether a path under the directory rel is claimed.
func (c claims) beneath(rel string) bool {
	for p := range c {
		if strings.HasPrefix(p, rel+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// appPath is a path beneath the app dir, relative, and whether it is a
// directory.
type appPath struct {
	rel string
	dir bool
}

// appPaths lists every path beneath appDir in walk order (depth first,
// lexical), walking without following symlinks: a slice's glob matches
// what the app dir holds, never what a link in it points to.
func appPaths(appDir string) ([]appPath, error) {
	var out []appPath
	err := filepath.WalkDir(appDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(appDir, p)
		if err != nil {
			return err
		}
		if rel != "." {
			out = append(out, appPath{rel, d.IsDir()})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading app dir: %w", err)
	}
	return out, nil
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
