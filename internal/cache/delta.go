package cache

import (
	"context"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// A cached layer that changed a little since restore (a build cache that
// gained a few entries) is pushed as a delta: the previous cache image's
// layers of it, reused by digest, and one more layer holding the entries
// that are new or changed, which a restore extracts over them. What
// changed is told by comparing the tree's listing with the one restore
// took (type, mode, size, mtime and link target of each path; owners are
// the tar's own), so no file is read but those the delta holds. A tree
// that lost a path, a delta that would be large, or a chain that has grown
// long is pushed whole again instead, which starts a new chain.
const (
	// maxDeltas bounds the deltas over a layer's first one.
	maxDeltas = 8
)

// compressionLevel is the gzip level of the cache image's new layers:
// the fastest, as they are made on every build that changes them and
// read back only by another machine (the app image keeps the default).
const compressionLevel = gzip.BestSpeed

// withDelta is l's chain as the previous image's and a delta, or nil when
// l is better pushed whole.
func (ic *imageCache) withDelta(ctx context.Context, l cachedLayer, tmp string, o SaveOptions) ([]v1.Layer, error) {
	prev, err := ic.layers(l.base.chain)
	if err != nil || len(prev) > maxDeltas {
		return nil, nil
	}
	idx, removed, changedBytes := delta(l.base.listing, l.listing)
	switch {
	case removed:
		return nil, nil
	case len(idx) == 0:
		// Only what the tar does not hold changed (owners, times of
		// directories): the layers are as they were.
		return prev, nil
	case 2*changedBytes > fileBytes(l.listing):
		return nil, nil
	}
	d, err := newLayer(ctx, l, l.listing, idx, tmp, o)
	if err != nil {
		return nil, err
	}
	// The deltas together stay smaller than the layer they go over, so a
	// restore elsewhere fetches at most about twice the layer.
	base, err := prev[0].Size()
	if err != nil {
		return nil, nil
	}
	total, err := d.Size()
	if err != nil {
		return nil, err
	}
	for _, p := range prev[1:] {
		n, err := p.Size()
		if err != nil {
			return nil, nil
		}
		total += n
	}
	if total > base {
		return nil, nil
	}
	return append(prev, d), nil
}

// delta returns the entries of cur (in order) that are not in base or
// differ from it, the bytes of the regular files among them, and whether
// an entry of base is gone from cur.
func delta(base, cur *archive.Listing) (idx []int, removed bool, bytes int64) {
	old := make(map[string]*archive.Listed, len(base.Entries))
	for i := range base.Entries {
		old[base.Entries[i].Rel] = &base.Entries[i]
	}
	for i := range cur.Entries {
		e := &cur.Entries[i]
		b, ok := old[e.Rel]
		delete(old, e.Rel)
		if ok && sameEntry(b, e) {
			continue
		}
		idx = append(idx, i)
		if e.Mode.IsRegular() {
			bytes += e.Size
		}
	}
	return idx, len(old) > 0, bytes
}

// sameEntry says whether a and b tar alike, as far as a listing tells: a
// directory by its type and mode (its time and owner are the tar's), the
// rest by size, mtime and link target too.
func sameEntry(a, b *archive.Listed) bool {
	if a.Mode != b.Mode {
		return false
	}
	if a.Mode.IsDir() {
		return true
	}
	return a.Size == b.Size && a.ModTime == b.ModTime && a.Target == b.Target
}

// fileBytes is the size of the regular files of l.
func fileBytes(l *archive.Listing) int64 {
	var n int64
	for _, e := range l.Entries {
		if e.Mode.IsRegular() {
			n += e.Size
		}
	}
	return n
}

// newLayer is the layer of the entries idx of listing, l's tree, laid out
// as the app image would hold the layer dir, tarred and compressed in one
// pass into tmp.
func newLayer(ctx context.Context, l cachedLayer, listing *archive.Listing, idx []int, tmp string, o SaveOptions) (v1.Layer, error) {
	t := archive.NewTar(archive.WithModTime(modTime(o)))
	prefix := prefixOr(o.LayersPrefix) + "/" + descriptor.EscapeID(l.id) + "/" + l.name
	if err := t.AddListed(ctx, listing, idx, prefix, archive.DirOptions{Owner: o.Owner, ParentOwner: o.Owner}); err != nil {
		return nil, err
	}
	return archive.NewLayer(ctx, t, archive.WithTempDir(tmp), archive.WithCompressionLevel(compressionLevel))
}
