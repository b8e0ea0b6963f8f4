package project

import (
	"os"
	"path"
	"path/filepath"
	"sync"

	ignore "github.com/sabhiram/go-gitignore"
)

// Filter is the predicate of the descriptor's include or exclude list for
// the source tree at root: it reports whether the entry at rel
// (slash-separated, relative to root; isDir for a directory) stays out of
// the build. It is nil when the descriptor has neither list.
//
// With exclude, an entry matching a pattern is left out, and a directory
// left out takes its whole subtree with it. With include, a file is kept
// only when it matches a pattern (a pattern naming a directory, such as
// "cmd/", matches everything under it), and a directory only when it
// matches or holds something that is kept: the directories above a kept
// file come with it, and nothing else of the tree, not even an empty
// directory's name, is in the build (as with pack).
func (d *Descriptor) Filter(root string) func(rel string, isDir bool) bool {
	switch {
	case len(d.Exclude) > 0:
		m := ignore.CompileIgnoreLines(d.Exclude...)
		return func(rel string, isDir bool) bool { return matches(m, rel, isDir) }
	case len(d.Include) > 0:
		inc := &includer{m: ignore.CompileIgnoreLines(d.Include...), root: root, memo: map[string]bool{}}
		return func(rel string, isDir bool) bool {
			if !isDir {
				return !matches(inc.m, rel, false)
			}
			return !inc.keepDir(rel)
		}
	}
	return nil
}

func matches(m *ignore.GitIgnore, rel string, isDir bool) bool {
	if m.MatchesPath(rel) {
		return true
	}
	return isDir && m.MatchesPath(rel+"/")
}

// includer answers, for include lists, whether a directory has anything
// to keep, walking the source below it (without following links) once.
type includer struct {
	m    *ignore.GitIgnore
	root string
	mu   sync.Mutex
	memo map[string]bool
}

func (in *includer) keepDir(rel string) bool {
	if matches(in.m, rel, true) {
		return true
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.holdsKept(rel)
}

// holdsKept reports whether the directory rel holds a kept entry. A
// directory that cannot be read is kept, so that the copy reports the
// error as it would without a filter.
func (in *includer) holdsKept(rel string) bool {
	if v, ok := in.memo[rel]; ok {
		return v
	}
	ents, err := os.ReadDir(filepath.Join(in.root, filepath.FromSlash(rel)))
	found := err != nil
	for _, e := range ents {
		if found {
			break
		}
		child := path.Join(rel, e.Name())
		if e.IsDir() {
			found = matches(in.m, child, true) || in.holdsKept(child)
		} else {
			found = matches(in.m, child, false)
		}
	}
	in.memo[rel] = found
	return found
}
