package workspace

import (
	"context"
	"os"
	"path"
	"time"

	"golang.org/x/sys/unix"
)

// scan lstats every directory, regular file and symlink of the tree at
// root ("." and slash-separated paths below it), through directory file
// descriptors: no link below root is followed.
func scan(ctx context.Context, root string) (map[string]unix.Stat_t, error) {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	d := os.NewFile(uintptr(fd), root)
	defer d.Close()
	st, err := fstat(d)
	if err != nil {
		return nil, err
	}
	out := map[string]unix.Stat_t{".": *st}
	return out, scanDir(ctx, d, ".", out)
}

func scanDir(ctx context.Context, d *os.File, rel string, out map[string]unix.Stat_t) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	names, err := readNames(d)
	if err != nil {
		return err
	}
	for _, n := range names {
		st, err := lstatAt(int(d.Fd()), n)
		if err != nil {
			return &os.PathError{Op: "lstat", Path: path.Join(d.Name(), n), Err: err}
		}
		crel := path.Join(rel, n)
		switch {
		case isReg(st.Mode), isLink(st.Mode):
			out[crel] = *st
		case isDir(st.Mode):
			out[crel] = *st
			c, err := openDirAt(int(d.Fd()), n, path.Join(d.Name(), n))
			if err != nil {
				return err
			}
			err = scanDir(ctx, c, crel, out)
			c.Close()
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// describe is the manifest of the workspace at dst, just copied from a
// source whose entries were src (scanned before the copy began, at
// start): the paths both have, with the same type.
func describe(ctx context.Context, src map[string]unix.Stat_t, dst string, start time.Time) (*Manifest, error) {
	ws, err := scan(ctx, dst)
	if err != nil {
		return nil, err
	}
	racy := start.Add(-racyMargin).UnixNano()
	m := NewManifest()
	for rel, w := range ws {
		s, ok := src[rel]
		if !ok || typeOf(s.Mode) != typeOf(w.Mode) {
			continue
		}
		fp := srcOf(&s)
		if s.Ctim.Nano() >= racy {
			fp = srcFP{}
		}
		m.put(rel, fp, wsOf(&w))
	}
	return m, nil
}
