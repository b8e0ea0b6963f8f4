package rootfs

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"
)

// Archive is an editable index of an uncompressed tar file holding a root
// file system. Entry names are clean relative paths without a leading "./"
// or a trailing slash ("usr/bin/bash", "etc"); the root directory itself is
// not an entry. An Archive is not safe for concurrent use.
type Archive struct {
	path    string
	f       *os.File
	entries map[string]*entry
}

type entry struct {
	hdr tar.Header
	// data is set for regular files. Names that are hard links of one
	// another share the same *blob, as they share an inode on disk.
	data *blob
}

// blob is the content of a regular file: either a section of the source
// tar file or bytes set by WriteFile.
type blob struct {
	offset, size int64
	content      []byte
	replaced     bool
}

// Open indexes the tar file at p. Regular file contents stay on disk until
// they are read or written out, so the file must stay unchanged until Close.
func Open(ctx context.Context, p string) (*Archive, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("opening root file system tar %s: %w", p, err)
	}
	a := &Archive{path: p, f: f, entries: map[string]*entry{}}
	if err := a.index(ctx); err != nil {
		f.Close()
		return nil, err
	}
	return a, nil
}

// Close releases the source tar file.
func (a *Archive) Close() error {
	if err := a.f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", a.path, err)
	}
	return nil
}

func (a *Archive) index(ctx context.Context) error {
	tr := tar.NewReader(a.f)
	for n := 0; ; n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("reading %s: %w", a.path, err)
			}
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", a.path, err)
		}
		if err := a.add(h); err != nil {
			return fmt.Errorf("reading %s: %w", a.path, err)
		}
	}
}

func (a *Archive) add(h *tar.Header) error {
	if h.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	name, err := cleanName(h.Name)
	if err != nil {
		return err
	}
	if name == "" {
		return nil // the root directory: the runtime owns its attributes
	}
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return fmt.Errorf("entry %s: sparse files are not supported", name)
		}
	}
	e := &entry{hdr: *h}
	e.hdr.Name = name
	switch h.Typeflag {
	case tar.TypeReg:
		off, err := a.f.Seek(0, io.SeekCurrent)
		if err != nil {
			return fmt.Errorf("entry %s: finding its data: %w", name, err)
		}
		e.data = &blob{offset: off, size: h.Size}
	case tar.TypeLink:
		target, err := cleanName(h.Linkname)
		if err != nil {
			return fmt.Errorf("entry %s: hard link: %w", name, err)
		}
		t := a.entries[target]
		if t == nil || t.data == nil {
			return fmt.Errorf("entry %s: hard link to %s, which is not a regular file earlier in the archive", name, target)
		}
		e.hdr = t.hdr
		e.hdr.Name = name
		e.data = t.data
	case tar.TypeSymlink, tar.TypeDir, tar.TypeFifo, tar.TypeChar, tar.TypeBlock:
		e.hdr.Size = 0
	default:
		return fmt.Errorf("entry %s: unsupported tar entry type %q", name, h.Typeflag)
	}
	a.entries[name] = e
	return nil
}

// cleanName turns a tar entry name into the archive's form, refusing names
// that would land outside the root.
func cleanName(n string) (string, error) {
	orig := n
	n = strings.TrimLeft(n, "/")
	n = path.Clean("/" + n)
	if strings.Contains(orig, "..") {
		for _, part := range strings.Split(orig, "/") {
			if part == ".." {
				return "", fmt.Errorf("entry name %q has a .. component", orig)
			}
		}
	}
	return strings.TrimPrefix(n, "/"), nil
}

// Names returns every entry name, sorted.
func (a *Archive) Names() []string {
	names := make([]string, 0, len(a.entries))
	for n := range a.entries {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Header returns a copy of the header of the entry called name (not
// following symbolic links). Hard-linked names all report TypeReg.
func (a *Archive) Header(name string) (tar.Header, bool) {
	e := a.entries[name]
	if e == nil {
		return tar.Header{}, false
	}
	h := e.hdr
	if e.data != nil {
		h.Size = e.data.len()
	}
	return h, true
}

// Resolve follows symbolic links in name the way the kernel would inside a
// chroot of the archive (a leading ".." stays at the root). The result need
// not exist.
func (a *Archive) Resolve(name string) (string, error) {
	clean, err := cleanName(name)
	if err != nil {
		return "", err
	}
	parts := splitPath(clean)
	cur := ""
	for hops, i := 0, 0; i < len(parts); i++ {
		next := path.Join(cur, parts[i])
		e := a.entries[next]
		if e == nil || e.hdr.Typeflag != tar.TypeSymlink {
			cur = next
			continue
		}
		hops++
		if hops > 40 {
			return "", fmt.Errorf("resolving %s: too many levels of symbolic links", name)
		}
		base := cur
		if path.IsAbs(e.hdr.Linkname) {
			base = ""
		}
		target := strings.TrimPrefix(path.Join("/", base, e.hdr.Linkname), "/")
		parts = append(splitPath(target), parts[i+1:]...)
		cur, i = "", -1
	}
	return cur, nil
}

func splitPath(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// ReadFile returns the content of the regular file at name, following
// symbolic links.
func (a *Archive) ReadFile(name string) ([]byte, error) {
	r, err := a.Resolve(name)
	if err != nil {
		return nil, err
	}
	e := a.entries[r]
	if e == nil {
		return nil, fmt.Errorf("reading %s from %s: %w", name, a.path, os.ErrNotExist)
	}
	if e.data == nil {
		return nil, fmt.Errorf("reading %s from %s: not a regular file", name, a.path)
	}
	b, err := e.data.read(a.f)
	if err != nil {
		return nil, fmt.Errorf("reading %s from %s: %w", name, a.path, err)
	}
	return b, nil
}

func (b *blob) len() int64 {
	if b.replaced {
		return int64(len(b.content))
	}
	return b.size
}

func (b *blob) read(f *os.File) ([]byte, error) {
	if b.replaced {
		return append([]byte(nil), b.content...), nil
	}
	buf := make([]byte, b.size)
	if _, err := f.ReadAt(buf, b.offset); err != nil {
		return nil, err
	}
	return buf, nil
}

func (b *blob) reader(f *os.File) io.Reader {
	if b.replaced {
		return strings.NewReader(string(b.content))
	}
	return io.NewSectionReader(f, b.offset, b.size)
}

// WriteFile replaces the content of the existing regular file called name
// (not following symbolic links). Other hard links to it change with it.
func (a *Archive) WriteFile(name string, data []byte) error {
	e := a.entries[name]
	if e == nil {
		return fmt.Errorf("writing %s: %w", name, os.ErrNotExist)
	}
	if e.data == nil {
		return fmt.Errorf("writing %s: not a regular file", name)
	}
	e.data.content = append([]byte(nil), data...)
	e.data.replaced = true
	return nil
}

// Create makes name a regular file with the given content, permission
// bits and owner, replacing whatever non-directory entry had that name (a
// hard link to other names is broken off). Its parent must be a directory.
func (a *Archive) Create(name string, data []byte, perm int64, uid, gid int) error {
	clean, err := cleanName(name)
	if err != nil || clean == "" {
		return fmt.Errorf("creating file %q: not a path below the root", name)
	}
	if e := a.entries[clean]; e != nil && e.hdr.Typeflag == tar.TypeDir {
		return fmt.Errorf("creating file /%s: it exists and is a directory", clean)
	}
	if parent := path.Dir(clean); parent != "." {
		p := a.entries[parent]
		if p == nil || p.hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("creating file /%s: parent /%s is not a directory", clean, parent)
		}
	}
	a.entries[clean] = &entry{
		hdr:  tar.Header{Typeflag: tar.TypeReg, Name: clean, Mode: perm, Uid: uid, Gid: gid},
		data: &blob{content: append([]byte(nil), data...), replaced: true},
	}
	return nil
}

// Remove drops the entry called name and, if it is a directory, everything
// under it. It returns how many entries were dropped.
func (a *Archive) Remove(name string) int {
	n := 0
	if _, ok := a.entries[name]; ok {
		delete(a.entries, name)
		n++
	}
	prefix := name + "/"
	for k := range a.entries {
		if strings.HasPrefix(k, prefix) {
			delete(a.entries, k)
			n++
		}
	}
	return n
}

// RemoveFunc drops every entry for which drop returns true and returns how
// many were dropped. The header passed to drop is a copy.
func (a *Archive) RemoveFunc(drop func(name string, h tar.Header) bool) int {
	n := 0
	for k := range a.entries {
		h, _ := a.Header(k)
		if drop(k, h) {
			delete(a.entries, k)
			n++
		}
	}
	return n
}

// Mkdir makes name a directory with the given permission bits and owner,
// creating it if missing or changing the attributes of an existing
// directory. Its parent must already be a directory in the archive (or the
// root).
func (a *Archive) Mkdir(name string, perm int64, uid, gid int) error {
	clean, err := cleanName(name)
	if err != nil || clean == "" {
		return fmt.Errorf("creating directory %q: not a path below the root", name)
	}
	if e := a.entries[clean]; e != nil {
		if e.hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("creating directory /%s: it exists and is not a directory", clean)
		}
		e.hdr.Mode = perm
		e.hdr.Uid, e.hdr.Gid = uid, gid
		return nil
	}
	if parent := path.Dir(clean); parent != "." {
		p := a.entries[parent]
		if p == nil || p.hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("creating directory /%s: parent /%s is not a directory", clean, parent)
		}
	}
	a.entries[clean] = &entry{hdr: tar.Header{
		Typeflag: tar.TypeDir,
		Name:     clean,
		Mode:     perm,
		Uid:      uid,
		Gid:      gid,
	}}
	return nil
}

// WriteTo writes the archive as an uncompressed tar stream: entries sorted
// by name, every time set to modTime, owner names empty, PAX records other
// than extended attributes dropped. Of names sharing content through hard
// links, the first in order is written as the file and the others link to
// it.
func (a *Archive) WriteTo(ctx context.Context, w io.Writer, modTime time.Time) error {
	modTime = time.Unix(modTime.Unix(), 0).UTC()
	tw := tar.NewWriter(w)
	leaders := map[*blob]string{}
	for i, name := range a.Names() {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("writing layer from %s: %w", a.path, err)
			}
		}
		e := a.entries[name]
		h := &tar.Header{
			Typeflag:   e.hdr.Typeflag,
			Name:       name,
			Linkname:   e.hdr.Linkname,
			Mode:       e.hdr.Mode & 07777,
			Uid:        e.hdr.Uid,
			Gid:        e.hdr.Gid,
			ModTime:    modTime,
			PAXRecords: xattrRecords(e.hdr.PAXRecords),
		}
		switch e.hdr.Typeflag {
		case tar.TypeDir:
			h.Name += "/"
		case tar.TypeChar, tar.TypeBlock:
			h.Devmajor, h.Devminor = e.hdr.Devmajor, e.hdr.Devminor
		case tar.TypeReg:
			if leader, ok := leaders[e.data]; ok {
				h.Typeflag, h.Linkname = tar.TypeLink, leader
				break
			}
			leaders[e.data] = name
			h.Size = e.data.len()
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("writing layer entry %s: %w", name, err)
		}
		if h.Typeflag == tar.TypeReg && h.Size > 0 {
			if _, err := io.Copy(tw, e.data.reader(a.f)); err != nil {
				return fmt.Errorf("writing layer entry %s from %s: %w", name, a.path, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("finishing layer from %s: %w", a.path, err)
	}
	return nil
}

// xattrRecords keeps the PAX records that carry extended attributes (file
// capabilities, for one); times, owner names and the like are dropped.
func xattrRecords(in map[string]string) map[string]string {
	var out map[string]string
	for k, v := range in {
		if strings.HasPrefix(k, "SCHILY.xattr.") {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}
