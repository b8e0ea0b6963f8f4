package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/kiln-build/kiln/lifecycle/archive"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// errTreeGone marks a tree a failed earlier build took and did not give
// back: a plain cache miss, not worth a warning.
var errTreeGone = errors.New("cached tree is gone")

// restoreTree moves a cached layer directory into the build by rename,
// after checking its fingerprint.
func (c *Cache) restoreTree(o RestoreOptions, md Metadata, id, name string, lm labels.LayerMetadata) error {
	key := id + ":" + name
	tree, ok := md.Trees[key]
	if !ok {
		return fmt.Errorf("no cached contents for %s", key)
	}
	src := filepath.Join(c.dir, "committed", tree.Dir)
	if _, err := os.Lstat(src); errors.Is(err, fs.ErrNotExist) {
		return errTreeGone
	}
	fp, err := archive.Fingerprint(src, nil, "")
	if err != nil || fp != tree.Fingerprint {
		os.RemoveAll(src)
		return fmt.Errorf("cached contents of %s changed since they were saved", key)
	}
	bpDir := filepath.Join(o.LayersDir, descriptor.EscapeID(id))
	if err := mkdirOwned(bpDir, o.Owner); err != nil {
		return err
	}
	dest := filepath.Join(bpDir, name)
	os.RemoveAll(dest)
	if err := os.Rename(src, dest); err != nil {
		return fmt.Errorf("restoring %s: %w", dest, err)
	}
	if o.Owner != nil {
		// A tree saved by a build that ran under another id range (a
		// concurrent build held this one) is handed to this build's user.
		changed, err := chownTree(dest, *o.Owner)
		if err != nil {
			os.Rename(dest, src)
			return fmt.Errorf("restoring %s: %w", dest, err)
		}
		if changed {
			if fp, err = archive.Fingerprint(dest, nil, ""); err != nil {
				return fmt.Errorf("restoring %s: %w", dest, err)
			}
		}
	}
	if err := c.writeLayerTOML(o, id, name, lm.Data); err != nil {
		os.Rename(dest, src)
		return err
	}
	c.moved[dest] = movedTree{from: src, fingerprint: fp}
	return nil
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
// came from, so a failing build does not cost the next one its cache.
func (c *Cache) GiveBack() {
	for dest, m := range c.moved {
		if fp, err := archive.Fingerprint(dest, nil, ""); err == nil && fp == m.fingerprint {
			os.Rename(dest, m.from)
		}
	}
	c.moved = map[string]movedTree{}
}
