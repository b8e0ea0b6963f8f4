package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
)

// Listing is a host tree read once, without following symlinks: what a
// layer's fingerprint and its tar are both made from, so the tree is
// walked once for both (see List, Listing.Fingerprint, Tar.AddListed).
type Listing struct {
	root string
	// Entries are the tree's paths in walk order (depth first, lexical),
	// the root first. Past the root this is the order Tar writes entries
	// in, so a directory's subtree follows it without interruption.
	// Read them; changing them breaks Index and the tars made from them.
	Entries []Listed
}

// Listed is one path of a Listing, as lstat saw it.
type Listed struct {
	// Rel is the slash-separated path below the root; "." is the root.
	Rel string
	// Mode holds the type and permission bits.
	Mode    fs.FileMode
	Size    int64
	ModTime int64 // Unix nanoseconds
	// Owner is the host owner (the tar's owner is chosen by the caller).
	Owner Owner
	// Target is a symlink's target.
	Target string
	// parent is the index of the directory holding the path; -1 for the
	// root.
	parent int
}

// List reads the tree under root: one lstat per path (one readlink per
// symlink), no file contents. A symlinked root is followed once, as
// Tar.AddDir does; no other symlink is.
func List(ctx context.Context, root string) (*Listing, error) {
	resolved, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", root, err)
	}
	fi, err := os.Stat(resolved)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", root, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("listing %s: not a directory", root)
	}
	l := &Listing{root: resolved}
	var open []int // the directories above the path being walked
	err = filepath.WalkDir(resolved, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walking %s: %w", p, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		relOS, err := filepath.Rel(resolved, p)
		if err != nil {
			return fmt.Errorf("walking %s: %w", p, err)
		}
		fi, err := d.Info()
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		e := Listed{Rel: filepath.ToSlash(relOS), Mode: fi.Mode(), Size: fi.Size(), ModTime: fi.ModTime().UnixNano(), parent: -1}
		uid, gid := statOwner(fi)
		e.Owner = Owner{UID: int(uid), GID: int(gid)}
		if e.Mode&fs.ModeSymlink != 0 {
			if e.Target, err = os.Readlink(p); err != nil {
				return fmt.Errorf("reading link %s: %w", p, err)
			}
		}
		if e.Rel != "." {
			dir := path.Dir(e.Rel)
			for len(open) > 0 && l.Entries[open[len(open)-1]].Rel != dir {
				open = open[:len(open)-1]
			}
			if len(open) == 0 {
				return fmt.Errorf("walking %s: its directory was not listed", p)
			}
			e.parent = open[len(open)-1]
		}
		l.Entries = append(l.Entries, e)
		if e.Mode.IsDir() {
			open = append(open, len(l.Entries)-1)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Root is the host directory listed, symlinks resolved.
func (l *Listing) Root() string { return l.root }

// All is every index of the listing, in order.
func (l *Listing) All() []int {
	out := make([]int, len(l.Entries))
	for i := range out {
		out[i] = i
	}
	return out
}

// Index finds the entry named rel.
func (l *Listing) Index(rel string) (int, bool) {
	if rel == "." {
		return 0, len(l.Entries) > 0
	}
	if len(l.Entries) < 2 {
		return 0, false
	}
	i, ok := slices.BinarySearchFunc(l.Entries[1:], rel, func(e Listed, rel string) int { return compareNames(e.Rel, rel) })
	return i + 1, ok
}

// Subtree is the index range [i, end) of entry i and everything beneath it.
func (l *Listing) Subtree(i int) (end int) {
	if i == 0 {
		return len(l.Entries)
	}
	pre := l.Entries[i].Rel + "/"
	end = i + 1
	for end < len(l.Entries) && len(l.Entries[end].Rel) > len(pre) && l.Entries[end].Rel[:len(pre)] == pre {
		end++
	}
	return end
}

// withParents yields idx, in walk order, preceded, where not
// already there, by the directories above its entries: the entries of the
// tar AddListed writes, in order, and whether each is in idx (rather than
// a directory above one).
func (l *Listing) withParents(idx []int) iter.Seq2[int, bool] {
	if !slices.IsSorted(idx) {
		idx = slices.Compact(slices.Sorted(slices.Values(idx)))
	}
	return func(yield func(int, bool) bool) {
		added := map[int]bool{} // directories yielded above idx's entries
		seen := func(p int) bool {
			_, in := slices.BinarySearch(idx, p)
			return in || added[p]
		}
		var up []int
		for _, i := range idx {
			up = up[:0]
			for p := l.Entries[i].parent; p >= 0 && !seen(p); p = l.Entries[p].parent {
				added[p] = true
				up = append(up, p)
			}
			for k := len(up) - 1; k >= 0; k-- {
				if !yield(up[k], false) {
					return
				}
			}
			if !yield(i, true) {
				return
			}
		}
	}
}

// Fingerprint summarises the entries idx of the listing (indices in walk
// order) and the directories above them, plus salt (what the layer is
// written with): for each listed path its name, type, mode, owner and,
// unless it is a directory, size, mtime and link target; for a directory
// above them only what its tar header holds (name and permission bits).
// A directory's mtime is left out: its tar entry does not depend on it,
// and the paths below it are summarised themselves, so adding a file
// changes only the fingerprint of the entries that hold it.
func (l *Listing) Fingerprint(idx []int, salt string) string {
	h := sha256.New()
	fmt.Fprintf(h, "kiln-layer-fingerprint/2\x00%s\x00", salt)
	var b []byte
	for i, listed := range l.withParents(idx) {
		e := &l.Entries[i]
		b = b[:0]
		if !listed {
			b = append(b, "p\x00"...)
			b = append(b, e.Rel...)
			b = append(b, 0)
			b = strconv.AppendUint(b, uint64(permBits(e.Mode)), 8)
			b = append(b, 0)
			h.Write(b)
			continue
		}
		b = append(b, "e\x00"...)
		b = append(b, e.Rel...)
		b = append(b, 0)
		b = strconv.AppendUint(b, uint64(e.Mode), 8)
		b = append(b, 0)
		b = strconv.AppendInt(b, int64(e.Owner.UID), 10)
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(e.Owner.GID), 10)
		b = append(b, 0)
		if !e.Mode.IsDir() {
			b = strconv.AppendInt(b, e.Size, 10)
			b = append(b, 0)
			b = strconv.AppendInt(b, e.ModTime, 10)
			b = append(b, 0)
			b = append(b, e.Target...)
			b = append(b, 0)
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TreeFingerprint is what Fingerprint(l.Root(), nil, "") returns for the
// tree as it was listed, without walking it again.
func (l *Listing) TreeFingerprint() string {
	h := sha256.New()
	fmt.Fprintf(h, "kiln-layer-fingerprint/1\x00\x00")
	for _, e := range l.Entries {
		writeTreeRecord(h, filepath.FromSlash(e.Rel), e.Mode, e.Size, e.ModTime, e.Owner.UID, e.Owner.GID, e.Target)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// AddListed adds the entries idx of l (indices in walk order) under
// prefix, with the directories above them, exactly as Tar.AddDir (all
// entries) or Tar.AddPaths (the paths and their subtrees) would add them:
// listed directories and those above them get their host permission bits
// and o.Owner, so tars of disjoint parts of one listing carry identical
// headers for the directories they share and overlay to the tree AddDir
// makes. Nothing is read again: file contents are read by Write, through
// an os.Root of the listed root.
func (t *Tar) AddListed(ctx context.Context, l *Listing, idx []int, prefix string, o DirOptions) error {
	pre, err := cleanPrefix(prefix)
	if err != nil {
		return fmt.Errorf("adding %s: %w", l.root, err)
	}
	if pre != "." {
		t.implyParents(pre, o.parentMode(), o.ParentOwner)
	}
	n := 0
	for i, listed := range l.withParents(idx) {
		if n++; n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := t.addListed(l, i, listed, pre, o); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// addListed adds entry i of l under pre: as listed, or as a directory
// above a listed entry.
func (t *Tar) addListed(l *Listing, i int, listed bool, pre string, o DirOptions) error {
	e := &l.Entries[i]
	name := path.Join(pre, e.Rel)
	if name == "." {
		return nil // the archive root itself has no entry
	}
	it := &item{mode: permBits(e.Mode), owner: o.Owner, implied: !listed}
	switch {
	case e.Mode.IsDir():
		it.kind = KindDir
	case !listed:
		return fmt.Errorf("adding %s: %s is not a directory", l.root, e.Rel)
	case e.Mode.IsRegular():
		it.kind, it.root, it.rel = KindFile, l.root, e.Rel
	case e.Mode&fs.ModeSymlink != 0:
		it.kind, it.target, it.mode = KindSymlink, e.Target, 0o777
	default:
		if o.OnSkip != nil {
			p := filepath.Join(l.root, filepath.FromSlash(e.Rel))
			return o.OnSkip(p, fmt.Errorf("%s (%s): %w", p, e.Mode.Type(), ErrSpecialFile))
		}
		return nil
	}
	return t.put(name, it)
}
