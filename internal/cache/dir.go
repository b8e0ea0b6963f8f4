package cache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/internal/beneath"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// errTreeGone marks a tree a failed earlier build took and did not give
// back: a plain cache miss, not worth a warning.
var errTreeGone = errors.New("cached tree is gone")

// restoreTree moves a cached layer directory into the build by rename,
// after checking its fingerprint, and returns its listing (the walk the
// fingerprint came from).
func (c *Cache) restoreTree(ctx context.Context, o RestoreOptions, md Metadata, id, name string, lm labels.LayerMetadata) (*archive.Listing, error) {
	key := id + ":" + name
	tree, ok := md.Trees[key]
	if !ok {
		return nil, fmt.Errorf("no cached contents for %s", key)
	}
	src := filepath.Join(c.dir, "committed", tree.Dir)
	if _, err := os.Lstat(src); errors.Is(err, fs.ErrNotExist) {
		return nil, errTreeGone
	}
	listing, fp, err := listTree(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("reading cached contents of %s: %w", key, err)
	}
	if fp != tree.Fingerprint {
		if err := os.RemoveAll(src); err != nil {
			return nil, fmt.Errorf("cached contents of %s changed since they were saved, and removing them failed: %w", key, err)
		}
		return nil, fmt.Errorf("cached contents of %s changed since they were saved", key)
	}
	bpDir := filepath.Join(o.LayersDir, descriptor.EscapeID(id))
	if err := mkdirOwned(bpDir, o.Owner); err != nil {
		return nil, err
	}
	dest := filepath.Join(bpDir, name)
	if err := os.RemoveAll(dest); err != nil {
		return nil, fmt.Errorf("restoring %s: clearing the way: %w", dest, err)
	}
	c.keep(src, listing, fp)
	if err := c.journalMove(o, key, src, dest, fp); err != nil { // before the move: see journal.go
		return nil, fmt.Errorf("restoring %s: %w", dest, err)
	}
	if err := os.Rename(src, dest); err != nil {
		return nil, fmt.Errorf("restoring %s: %w", dest, err)
	}
	if o.Owner != nil {
		// A tree saved by a build that ran under another id range (a
		// concurrent build held this one) is handed to this build's user.
		changed, err := chownTree(dest, *o.Owner)
		if err != nil {
			return nil, putBack(dest, src, fmt.Errorf("restoring %s: %w", dest, err))
		}
		if changed {
			if listing, fp, err = listTree(ctx, dest); err != nil {
				return nil, putBack(dest, src, fmt.Errorf("restoring %s: %w", dest, err))
			}
			if err := c.journalOwned(key, fp); err != nil {
				return nil, putBack(dest, src, fmt.Errorf("restoring %s: %w", dest, err))
			}
		}
	}
	if err := c.writeLayerTOML(o, id, name, lm.Data); err != nil {
		return nil, putBack(dest, src, err)
	}
	c.moved[dest] = movedTree{key: key, from: src, layers: o.LayersDir, fingerprint: fp}
	return listing, nil
}

// putBack moves a tree that could not be restored back into the cache,
// and says so when that fails too: the cache then lacks the layer.
func putBack(dest, src string, cause error) error {
	if err := os.Rename(dest, src); err != nil {
		return fmt.Errorf("%w; putting it back into the cache failed too (the cache lost it): %v", cause, err)
	}
	return cause
}

// chownTree gives every entry under root (root included, links not
// followed) to o, unless root already belongs to o: a tree is written by one
// build user, so its root tells. It reports whether it changed anything.
func chownTree(root string, o archive.Owner) (bool, error) {
	fi, err := os.Lstat(root)
	if err != nil {
		return false, err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == o.UID && int(st.Gid) == o.GID {
		return false, nil
	}
	return true, filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, o.UID, o.GID)
	})
}

// GiveBack returns to the cache the trees Restore moved out, when the
// build failed before Save: those left as they were go back where they
// came from, so a failing build does not cost the next one its cache. A
// tree the build changed stays out (a plain miss next time); one that
// cannot be read or moved back is named in the error.
func (c *Cache) GiveBack() error {
	var errs []error
	back := map[string]string{}
	for _, dest := range slices.Sorted(maps.Keys(c.moved)) {
		m := c.moved[dest]
		// The tree moves back first, reached through no link the build
		// may have put on the way (what a link leads to is not the tree);
		// then, out of the build's reach, it must be as restored.
		fp, err := takeBack(beneath.New(m.layers, nil), m.layers, dest, m.from, m.fingerprint)
		if err != nil {
			errs = append(errs, fmt.Errorf("giving back %s: %w", dest, err))
		}
		if fp != "" {
			back[m.key] = fp
		}
	}
	// A tree handed to this build's user at restore went back with its
	// new owners: the index must say so, or the next restore rejects it.
	if err := c.refingerprint(back); err != nil {
		errs = append(errs, fmt.Errorf("giving back: %w", err))
	}
	c.moved = map[string]movedTree{}
	if err := c.endJournal(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// refingerprint records fps (key: fingerprint) of trees back in
// committed/ in its index, where they differ.
func (c *Cache) refingerprint(fps map[string]string) error {
	md, err := c.dirMetadata()
	if err != nil {
		return err
	}
	changed := false
	for k, fp := range fps {
		if t, ok := md.Trees[k]; ok && t.Fingerprint != fp {
			t.Fingerprint = fp
			md.Trees[k] = t
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return writeMetadata(c.path(committedName), md)
}
