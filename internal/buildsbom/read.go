package buildsbom

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/kiln-build/kiln/internal/beneath"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/sbom"
)

// maxEntries bounds the entries of a build SBOM tree (tests lower it).
var maxEntries = sbom.MaxEntries

// reader reads one build SBOM tree, keeping count of what it read.
type reader struct {
	root       *beneath.Root
	buildpacks map[string]bool // escaped IDs of the group
	entries    int
	total      int64
	files      []sbom.File
}

// Read returns the build SBOM files under root (a build's layers dir, as
// the host sees it) at their paths in a platform's SBOM output dir:
// build/<buildpack>/[<layer>/]sbom.<ext> and build/sbom.legacy.json.
// buildpackIDs are the IDs of the build's group; a directory of any other
// buildpack is an error. No tree is no files.
func Read(root *beneath.Root, buildpackIDs []string) ([]sbom.File, error) {
	r := &reader{root: root, buildpacks: map[string]bool{}}
	for _, id := range buildpackIDs {
		r.buildpacks[descriptor.EscapeID(id)] = true
	}
	if err := root.CheckDir(Dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("build SBOMs: %w", err)
	}
	if err := r.walk(Dir, 0); err != nil {
		return nil, fmt.Errorf("build SBOMs: %w", err)
	}
	sortFiles(r.files)
	return r.files, nil
}

// walk reads the directory rel at depth (0: Dir, 1: a buildpack's, 2: a
// layer's).
func (r *reader) walk(rel string, depth int) error {
	entries, err := r.root.ReadDir(rel, maxEntries)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if r.entries++; r.entries > maxEntries {
			return fmt.Errorf("%s holds more than %d entries", r.show(Dir), maxEntries)
		}
		child := path.Join(rel, e.Name())
		switch t := e.Type(); {
		case t.IsDir() && r.dirAllowed(e.Name(), depth):
			if err := r.walk(child, depth+1); err != nil {
				return err
			}
		case t.IsRegular() && r.fileAllowed(e.Name(), depth):
			if err := r.read(child); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s %w (%s)", r.show(child), errShape, kind(t))
		}
	}
	return nil
}

// dirAllowed: a buildpack of the group in Dir, a layer in a buildpack's.
func (r *reader) dirAllowed(name string, depth int) bool {
	switch depth {
	case 0:
		return r.buildpacks[name]
	case 1:
		return validLayer(name)
	}
	return false
}

// fileAllowed: the legacy BOM in Dir, sbom.<known ext> below.
func (r *reader) fileAllowed(name string, depth int) bool {
	if depth == 0 {
		return name == LegacyFile
	}
	ext, ok := strings.CutPrefix(name, "sbom.")
	return ok && KnownExt(ext)
}

// read reads the file rel within the bounds.
func (r *reader) read(rel string) error {
	data, err := r.root.ReadFile(rel, sbom.MaxDocument)
	if err != nil {
		return err
	}
	if r.total += int64(len(data)); r.total > sbom.MaxTotal {
		return fmt.Errorf("%s: the build SBOM files exceed %d MiB in all", r.show(rel), sbom.MaxTotal>>20)
	}
	name := strings.TrimPrefix(rel, Dir+"/")
	if name == LegacyFile && !json.Valid(data) {
		return fmt.Errorf("%s is not JSON", r.show(rel))
	}
	r.files = append(r.files, sbom.File{Path: outPath(name), Data: data})
	return nil
}

func kind(m fs.FileMode) string {
	if m.IsRegular() {
		return "a file"
	}
	return beneath.Kind(m)
}

// show names rel as the root's user sees it.
func (r *reader) show(rel string) string {
	if r.root.Show != nil {
		return r.root.Show(rel)
	}
	return r.root.Path(rel)
}
