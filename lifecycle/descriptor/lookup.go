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

// Lookup finds buildpacks under a root laid out as
// <root>/<escaped id>/<version>/buildpack.toml and caches what it read.
// It is not safe for concurrent use.
type Lookup struct {
	root  string
	cache map[string]*Buildpack
}

// NewLookup returns a Lookup for the buildpacks root dir
// (DefaultBuildpacksDir in a builder).
func NewLookup(root string) *Lookup {
	return &Lookup{root: root, cache: map[string]*Buildpack{}}
}

// Root returns the buildpacks root.
func (l *Lookup) Root() string { return l.root }

// Find returns the buildpack id@version. An empty version selects the only
// version installed, or the first in directory (lexical) order when there
// are several. The descriptor must declare the id and version it is filed
// under. A missing buildpack is reported with ErrNotFound.
func (l *Lookup) Find(id, version string) (*Buildpack, error) {
	key := id + "@" + version
	if bp, ok := l.cache[key]; ok {
		return bp, nil
	}
	esc := EscapeID(id)
	if id == "" || esc == "." || esc == ".." {
		return nil, fmt.Errorf("looking up buildpack %q: invalid id", id)
	}
	idDir := filepath.Join(l.root, esc)
	if version == "" {
		entries, err := os.ReadDir(idDir)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("looking up buildpack %s in %s: %w", id, l.root, ErrNotFound)
			}
			return nil, fmt.Errorf("looking up buildpack %s: reading %s: %w", id, idDir, err)
		}
		for _, e := range entries {
			if e.IsDir() {
				version = e.Name()
				break
			}
		}
		if version == "" {
			return nil, fmt.Errorf("looking up buildpack %s: no versions in %s: %w", id, idDir, ErrNotFound)
		}
	}
	if version != filepath.Base(version) || version == "." || version == ".." {
		return nil, fmt.Errorf("looking up buildpack %s@%s: invalid version", id, version)
	}
	dir := filepath.Join(idDir, version)
	if _, err := os.Stat(filepath.Join(dir, BuildpackFile)); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("looking up buildpack %s@%s: no %s in %s: %w", id, version, BuildpackFile, dir, ErrNotFound)
	}
	bp, err := ReadBuildpack(dir)
	if err != nil {
		return nil, err
	}
	if bp.Buildpack.ID != id || bp.Buildpack.Version != version {
		return nil, fmt.Errorf("looking up buildpack %s@%s: %s declares %s", id, version, filepath.Join(dir, BuildpackFile), bp.Ref())
	}
	l.cache[key] = bp
	return bp, nil
}
