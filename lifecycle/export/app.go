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
	rest, err := c.rest(appDir)
	if err != nil {
		return nil, nil, err
	}
	return out, rest, nil
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
func (c claims) slice(all []string, s launch.Slice) ([]string, error) {
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
// beneath them is claimed, else their unclaimed entries.
func (c claims) rest(appDir string) ([]string, error) {
	rest := []string{}
	err := filepath.WalkDir(appDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(appDir, p)
		if err != nil {
			return err
		}
		switch {
		case rel == ".":
			return nil
		case c.has(rel) && d.IsDir():
			return filepath.SkipDir
		case c.has(rel):
			return nil
		case d.IsDir() && c.beneath(rel):
			return nil // walked into
		}
		rest = append(rest, rel)
		if d.IsDir() {
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading app dir: %w", err)
	}
	slices.Sort(rest)
	return rest, nil
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

// appPaths lists every path beneath appDir, relative and sorted, walking
// without following symlinks: a slice's glob matches what the app dir
// holds, never what a link in it points to.
func appPaths(appDir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(appDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(appDir, p)
		if err != nil {
			return err
		}
		if rel != "." {
			out = append(out, rel)
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
func matchPaths(paths []string, pat string) ([]string, error) {
	var out []string
	for _, p := range paths {
		ok, err := filepath.Match(pat, p)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, p)
		}
	}
	if _, err := filepath.Match(pat, ""); err != nil {
		return nil, err
	}
	return out, nil
}
