package cache

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/internal/beneath"
	"github.com/kiln-build/kiln/internal/flock"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// The journal makes the dir cache safe against a kiln killed at any
// moment (kill -9, a crash, a power cut of the process). Layer trees move
// by rename between committed/ and a build's layers dir, and a killed build
// cannot move them back; so before each move, the build appends a record
// of it to <dir>/journal while it holds the cache lock. The next holder of
// the lock (Open, or Reclaim when a stale work dir is about to be removed)
// replays what it finds:
//
//   - a save that was under way is finished: the trees it had not moved
//     yet into staging/ are moved there from the dead build's layers dir
//     (each checked against the fingerprint it had), and the generation is
//     swapped in;
//   - a build that was killed after its build phase had finished (its
//     layers dir has config/metadata.toml: every buildpack's layers are
//     complete) is saved as Save would have: the cache then holds that
//     build's layers, as if it had been killed right after Save (launch
//     layers come back only once an image with them is written again);
//   - a build killed earlier gives back the trees it took that are as they
//     were (same fingerprint), as GiveBack does for a build that fails,
//     and the copies of small trees kept aside (keep.go) replace those it
//     had changed. A big tree a buildpack had already changed is neither the
//     old nor a new state: it stays out, and the next build makes that
//     layer again;
//
// and finally a generation swap cut in half is completed or undone. The
// dead build's layers dir is only read after checking that no symlink
// stands where the host looks (as for a live build's), so a hostile build
// cannot lead the replay to host files.
const (
	journalName   = "journal"
	usedName      = "used"
	committedName = "committed"
	stagingName   = "staging"
	oldName       = "old"
	metadataName  = "metadata.json"
	// buildDoneRel is the file the build phase writes last in the layers
	// dir, once every buildpack has finished.
	buildDoneRel = "config/metadata.toml"
	// maxLayersEntries bounds the entries of a dead build's layers dir
	// (and of each buildpack's dir in it) that a replay reads.
	maxLayersEntries = 100000
)

// ErrBusy says a running build holds a cache.
var ErrBusy = flock.ErrBusy

const (
	opBegin = "begin" // a build's layers dir and group
	opMove  = "move"  // a tree about to leave committed/ for the build
	opOwned = "owned" // a moved tree handed to the build's user: its new fingerprint
	opSave  = "save"  // a layer dir about to move into staging/
)

// record is one line of the journal.
type record struct {
	Op     string                  `json:"op"`
	Layers string                  `json:"layers,omitempty"` // begin, save: the build's layers dir
	Group  []descriptor.GroupEntry `json:"group,omitempty"`  // begin
	Key    string                  `json:"key,omitempty"`
	// Tree is the tree's dir in committed/ (move) or staging/ (save).
	Tree string `json:"tree,omitempty"`
	// Layer is the layer dir in the build.
	Layer       string `json:"layer,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	// ID, Version and Name say whose layer a save record is.
	ID      string                `json:"id,omitempty"`
	Version string                `json:"version,omitempty"`
	Name    string                `json:"name,omitempty"`
	Meta    *labels.LayerMetadata `json:"meta,omitempty"`
}

func (c *Cache) path(name ...string) string {
	return filepath.Join(append([]string{c.dir}, name...)...)
}

// appendJournal adds recs to the journal in one write.
func (c *Cache) appendJournal(recs ...record) error {
	var buf bytes.Buffer
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	f, err := os.OpenFile(c.path(journalName), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("writing cache journal: %w", err)
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		return fmt.Errorf("writing cache journal: %w", err)
	}
	return f.Close()
}

// journalMove records that the tree of key leaves committed/<tree> for
// layer, before it does. The build's first record says where its layers
// dir is and what group it builds.
func (c *Cache) journalMove(o RestoreOptions, key, tree, layer, fingerprint string) error {
	var recs []record
	if _, err := os.Lstat(c.path(journalName)); errors.Is(err, fs.ErrNotExist) {
		recs = append(recs, record{Op: opBegin, Layers: o.LayersDir, Group: o.Group})
	}
	recs = append(recs, record{Op: opMove, Key: key, Tree: filepath.Base(tree), Layer: layer, Fingerprint: fingerprint})
	return c.appendJournal(recs...)
}

// Detected records the group detect chose, for a build that restored
// before it detected (RestoreOptions.AnyBuildpack): a build that dies
// after its build phase is saved with this group. Without moved trees
// there is no journal and nothing to record.
func (c *Cache) Detected(layersDir string, group []descriptor.GroupEntry) error {
	if _, err := os.Lstat(c.path(journalName)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return c.appendJournal(record{Op: opBegin, Layers: layersDir, Group: group})
}

// journalOwned records the fingerprint a moved tree has after it was
// handed to the build's user.
func (c *Cache) journalOwned(key, fingerprint string) error {
	return c.appendJournal(record{Op: opOwned, Key: key, Fingerprint: fingerprint})
}

// journalSave records that the layer dir l moves into staging/<tree>,
// before it does.
func (c *Cache) journalSave(layersDir string, l cachedLayer, version string, tree Tree) error {
	meta := l.meta
	return c.appendJournal(record{Op: opSave, Layers: layersDir, Key: l.id + ":" + l.name,
		ID: l.id, Version: version, Name: l.name, Tree: tree.Dir, Layer: l.dir,
		Fingerprint: tree.Fingerprint, Meta: &meta})
}

// endJournal ends a build's use of the cache without a save: the kept
// copies of trees that did not come back are put back, and the journal
// goes.
func (c *Cache) endJournal() error {
	if err := c.restoreKept(); err != nil {
		return err
	}
	if err := os.Remove(c.path(journalName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing cache journal: %w", err)
	}
	return nil
}

// readJournal returns the journal's records; a last line cut short by a
// kill is left out.
func readJournal(dir string) ([]record, error) {
	b, err := os.ReadFile(filepath.Join(dir, journalName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading cache journal: %w", err)
	}
	var out []record
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, len(b)+1)
	for sc.Scan() {
		var r record
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			break
		}
		out = append(out, r)
	}
	return out, nil
}

// recover puts the cache in order after a holder that died: see the
// comment at the top of this file.
func (c *Cache) recover(ctx context.Context) error {
	recs, err := readJournal(c.dir)
	if err != nil {
		return err
	}
	var begin *record
	var saves, moves []record
	owned := map[string]string{}
	for i, r := range recs {
		switch r.Op {
		case opBegin:
			// The last one: Detected adds the group to a begin that
			// restore wrote before detect ran.
			begin = &recs[i]
		case opMove:
			moves = append(moves, r)
		case opOwned:
			owned[r.Key] = r.Fingerprint
		case opSave:
			saves = append(saves, r)
		}
	}
	switch {
	case len(saves) > 0:
		if err = c.finishSave(saves); err == nil {
			err = removeTree(c.path(keptName))
		}
	case begin != nil && len(begin.Group) > 0 && buildFinished(begin.Layers):
		err = c.saveFrom(ctx, *begin)
	case begin != nil:
		err = c.giveBackFrom(begin.Layers, moves, owned)
	}
	if err != nil {
		return err
	}
	if err := c.settleGenerations(); err != nil {
		return err
	}
	return c.endJournal()
}

// layersRoot checks a dead build's layers dir as the host checks a live
// one before acting on it; nil means it must not be touched.
func layersRoot(dir string) *beneath.Root {
	r := beneath.New(dir, func(rel string) string { return filepath.Join(dir, rel) })
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
		return nil // gone, or a link the build put in its place
	}
	if err := r.CheckShape(2, maxLayersEntries); err != nil {
		return nil
	}
	return r
}

// below returns p relative to dir, or false when it is not below it.
func below(dir, p string) (string, bool) {
	rel, err := filepath.Rel(dir, p)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return rel, true
}

// buildFinished says whether the build phase that used layers ran to its
// end.
func buildFinished(layers string) bool {
	r := layersRoot(layers)
	return r != nil && r.CheckFile(buildDoneRel) == nil
}

// saveFrom saves what a dead build whose build phase had finished left in
// its layers dir, as Save would have.
func (c *Cache) saveFrom(ctx context.Context, begin record) error {
	if layersRoot(begin.Layers) == nil {
		return nil
	}
	// Into the dir cache alone: a replay pushes nothing, so the generation
	// claims no cache image and a build with one takes it from the image.
	return c.saveLocal(ctx, SaveOptions{LayersDir: begin.Layers, Group: begin.Group})
}

// takeBack moves the tree at layer (below layers) to dst when its
// fingerprint is one of fps, returning the fingerprint it had; "" when
// there was no tree to move or it failed the check. The move comes first,
// through no link (beneath.Root.RenameOut), and the check after, on the
// tree where no build can change it any more; one that fails it is
// removed, as the dead build's work dir would be. The error says what
// could not be moved or removed.
func takeBack(root *beneath.Root, layers, layer, dst string, fps ...string) (string, error) {
	rel, ok := below(layers, layer)
	if !ok {
		return "", fmt.Errorf("%s is not below the layers dir %s", layer, layers)
	}
	if err := root.RenameOut(rel, dst); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	if fi, err := os.Lstat(dst); err == nil && fi.IsDir() {
		if fp, err := archive.Fingerprint(dst, nil, ""); err == nil {
			for _, want := range fps {
				if want != "" && fp == want {
					return fp, nil
				}
			}
		}
	}
	// Changed in the build (or not a tree at all): a plain miss.
	if err := removeTree(dst); err != nil {
		return "", fmt.Errorf("dropping the changed %s: %w", dst, err)
	}
	return "", nil
}

// giveBackFrom moves back into committed/ the trees a dead build took
// and left as they were.
func (c *Cache) giveBackFrom(layers string, moves []record, owned map[string]string) error {
	root := layersRoot(layers)
	if root == nil {
		return nil
	}
	changed := map[string]string{}
	for _, m := range moves {
		if !oneElement(m.Tree) {
			continue
		}
		dst := c.path(committedName, m.Tree)
		if _, err := os.Lstat(dst); err == nil {
			continue // given back already, or kept
		}
		fp, _ := takeBack(root, layers, m.Layer, dst, m.Fingerprint, owned[m.Key])
		if fp != "" && fp != m.Fingerprint {
			changed[m.Key] = fp
		}
	}
	// Trees handed to the dead build's user went back with their new
	// owners: the index must say so, or the next restore rejects them.
	return c.refingerprint(changed)
}

// finishSave completes a save cut short: staging/ gets the trees it was
// still to get, then replaces committed/.
func (c *Cache) finishSave(saves []record) error {
	staging := c.path(stagingName)
	if _, err := os.Lstat(staging); errors.Is(err, fs.ErrNotExist) {
		return nil // the save had swapped the generations in; only the journal was left
	}
	if validMetadata(staging) {
		return c.swap(staging)
	}
	md := Metadata{Trees: map[string]Tree{}}
	roots := map[string]*beneath.Root{}
	for _, s := range saves {
		if s.Meta == nil || !oneElement(s.Tree) || !oneElement(s.Name) {
			continue
		}
		dst := filepath.Join(staging, s.Tree)
		if _, err := os.Lstat(dst); err != nil {
			root, seen := roots[s.Layers]
			if !seen {
				root = layersRoot(s.Layers)
				roots[s.Layers] = root
			}
			if root == nil {
				continue
			}
			if fp, _ := takeBack(root, s.Layers, s.Layer, dst, s.Fingerprint); fp == "" {
				continue
			}
		}
		md.Trees[s.Key] = Tree{Dir: s.Tree, Fingerprint: s.Fingerprint}
		bp := find(md.Buildpacks, s.ID)
		if bp == nil {
			md.Buildpacks = append(md.Buildpacks, labels.BuildpackEntry{Key: s.ID, Version: s.Version, Layers: map[string]labels.LayerMetadata{}})
			bp = &md.Buildpacks[len(md.Buildpacks)-1]
		}
		bp.Layers[s.Name] = *s.Meta
	}
	if err := writeMetadata(staging, md); err != nil {
		return err
	}
	return c.swap(staging)
}

// settleGenerations completes or undoes a swap of generations cut short:
// a complete staging/ is the newest cache; an incomplete one goes; with
// no committed/, old/ is the cache.
func (c *Cache) settleGenerations() error {
	staging, committed, old := c.path(stagingName), c.path(committedName), c.path(oldName)
	if validMetadata(staging) {
		if err := c.swap(staging); err != nil {
			return err
		}
	}
	if err := removeTree(staging); err != nil {
		return err
	}
	if _, err := os.Lstat(committed); errors.Is(err, fs.ErrNotExist) {
		if err := os.Rename(old, committed); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("recovering cache: %w", err)
		}
	}
	return removeTree(old)
}

// validMetadata says whether dir holds a complete metadata.json.
func validMetadata(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, metadataName))
	if err != nil {
		return false
	}
	var md Metadata
	return json.Unmarshal(b, &md) == nil
}

// writeMetadata replaces dir's metadata.json in one rename.
func writeMetadata(dir string, md Metadata) error {
	b, err := json.Marshal(md)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+metadataName)
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("writing cache metadata: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, metadataName)); err != nil {
		return fmt.Errorf("writing cache metadata: %w", err)
	}
	return nil
}

// reset empties a cache that could not be put in order: a miss for the
// next build, never a wrong layer.
func (c *Cache) reset() error {
	for _, n := range []string{committedName, stagingName, oldName, journalName} {
		if err := removeTree(c.path(n)); err != nil {
			return err
		}
	}
	return nil
}
