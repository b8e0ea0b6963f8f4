package descriptor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DefaultBuildpacksDir is where a builder image keeps its buildpacks.
const DefaultBuildpacksDir = "/cnb/buildpacks"

// EscapeID turns a buildpack ID into a single path element: every '/'
// becomes '_'.
func EscapeID(id string) string { return strings.ReplaceAll(id, "/", "_") }

// ErrNotFound marks a lookup for a buildpack that is not installed.
var ErrNotFound = errors.New("buildpack not found")

// Lookup finds buildpacks (or, made by NewExtensionLookup, image
// extensions) under one or more roots, each laid out as
// <root>/<escaped id>/<version>/buildpack.toml (extension.toml), and
// caches what it read.
// Roots are searched in order; the first one holding the buildpack wins.
// It is not safe for concurrent use.
type Lookup struct {
	kind  Kind
	roots []string
	cache map[string]*Buildpack
}

// NewLookup returns a Lookup for the given buildpacks roots
// (DefaultBuildpacksDir in a builder). A root may itself be a list
// separated by ':' (as in a CNB_BUILDPACKS_DIR-style flag).
func NewLookup(roots ...string) *Lookup { return NewKindLookup(KindBuildpack, roots...) }

// NewExtensionLookup returns a Lookup for image extensions under roots
// (DefaultExtensionsDir in a builder), each laid out as <root>/<escaped
// id>/<version>/extension.toml.
func NewExtensionLookup(roots ...string) *Lookup { return NewKindLookup(KindExtension, roots...) }

// NewKindLookup returns a Lookup for modules of kind under roots.
func NewKindLookup(kind Kind, roots ...string) *Lookup {
	l := &Lookup{kind: kind, cache: map[string]*Buildpack{}}
	for _, r := range roots {
		for _, p := range filepath.SplitList(r) {
			if p != "" {
				l.roots = append(l.roots, p)
			}
		}
	}
	return l
}

// Roots returns the buildpacks roots in search order.
func (l *Lookup) Roots() []string { return l.roots }

// Find returns the buildpack id@version. An empty version selects the only
// version installed, or the first in directory (lexical) order when there
// are several, in the first root that has the id. The descriptor must
// declare the id and version it is filed under. A missing buildpack is
// reported with ErrNotFound.
func (l *Lookup) Find(id, version string) (*Buildpack, error) {
	key := id + "@" + version
	if bp, ok := l.cache[key]; ok {
		return bp, nil
	}
	esc := EscapeID(id)
	if id == "" || esc == "." || esc == ".." {
		return nil, fmt.Errorf("looking up %s %q: invalid id", l.kind, id)
	}
	if version != "" && (version != filepath.Base(version) || version == "." || version == "..") {
		return nil, fmt.Errorf("looking up %s %s@%s: invalid version", l.kind, id, version)
	}
	for _, root := range l.roots {
		dir, err := findIn(root, esc, version, l.kind.File())
		if err != nil {
			return nil, fmt.Errorf("looking up %s %s: %w", l.kind, key, err)
		}
		if dir == "" {
			continue
		}
		bp, err := ReadModule(l.kind, dir)
		if err != nil {
			return nil, err
		}
		if bp.Buildpack.ID != id || (version != "" && bp.Buildpack.Version != version) || filepath.Base(dir) != bp.Buildpack.Version {
			return nil, fmt.Errorf("looking up %s %s: %s declares %s", l.kind, key, filepath.Join(dir, l.kind.File()), bp.Ref())
		}
		l.cache[key] = bp
		return bp, nil
	}
	return nil, fmt.Errorf("looking up %s %s in %s: %w", l.kind, key, strings.Join(l.roots, ", "), ErrNotFound)
}

// findIn returns the directory of the module in root (the one holding
// file), or "" if root does not have it.
func findIn(root, escapedID, version, file string) (string, error) {
	idDir := filepath.Join(root, escapedID)
	if version == "" {
		entries, err := os.ReadDir(idDir)
		if errors.Is(err, os.ErrNotExist) {
			return "", nil
		}
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", idDir, err)
		}
		for _, e := range entries {
			if e.IsDir() && isFile(filepath.Join(idDir, e.Name(), file)) {
				return filepath.Join(idDir, e.Name()), nil
			}
		}
		return "", nil
	}
	dir := filepath.Join(idDir, version)
	if !isFile(filepath.Join(dir, file)) {
		return "", nil
	}
	return dir, nil
}
