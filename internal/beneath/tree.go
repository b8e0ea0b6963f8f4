package beneath

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"
)

// CheckShape walks the root down to depth levels (1: its entries, 2: their
// entries too) and fails on the first entry that is not a directory or a
// regular file: the places where the host expects a layer directory or a
// TOML, SBOM or message file must hold nothing a host read could be led
// astray by (a symlink) or block on (a FIFO). Deeper entries are content,
// archived as they are without being followed. maxEntries bounds how many
// entries may stand at those levels.
func (r *Root) CheckShape(depth, maxEntries int) error {
	n := 0
	var walk func(rel string, level int) error
	walk = func(rel string, level int) error {
		d, err := r.open(rel, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			return err
		}
		entries, err := d.ReadDir(-1)
		d.Close()
		if err != nil {
			return r.fail(rel, err)
		}
		for _, e := range entries {
			child := filepath.Join(rel, e.Name())
			if n++; n > maxEntries {
				return r.fail(".", fmt.Errorf("holds more than %d entries at its top %d levels", maxEntries, depth))
			}
			t := e.Type()
			switch {
			case t&fs.ModeSymlink != 0:
				target, _ := os.Readlink(r.Path(child))
				return r.fail(child, fmt.Errorf("%w (it points to %q)", ErrSymlink, target))
			case t.IsDir():
				if level < depth {
					if err := walk(child, level+1); err != nil {
						return err
					}
				}
			case !t.IsRegular():
				return r.fail(child, fmt.Errorf("%w (%s)", ErrNotRegular, Kind(t)))
			}
		}
		return nil
	}
	err := walk(".", 1)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// ReadDir lists the directory rel, reached without following a link, in
// name order; a directory of more than max entries is an error. The
// entries' types are as the directory records them: a symlink is listed
// as one, never followed.
func (r *Root) ReadDir(rel string, max int) ([]fs.DirEntry, error) {
	d, err := r.open(rel, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	entries, err := d.ReadDir(max + 1)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, r.fail(rel, err)
	}
	if len(entries) > max {
		return nil, r.fail(rel, fmt.Errorf("holds more than %d entries", max))
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	return entries, nil
}
