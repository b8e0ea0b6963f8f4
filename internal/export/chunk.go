package export

import (
	"math"
	"math/bits"

	"github.com/kiln-build/kiln/internal/archive"
)

// The app dir, less its slices, goes into the image as one layer or, when
// it is big, as several "chunks", so that a change to one file re-tars,
// compresses and uploads the chunk holding it, not the whole app; the
// other chunks are reused from the previous image by fingerprint.
//
// Chunk boundaries are content-defined over the app's paths in walk
// order. A path weighs what it adds to a tar: 512 bytes, plus a regular
// file's size rounded up to 512. A path is a "hit" when the hash of its
// name falls below weight/AvgChunk of the hash space: hits come on average
// every AvgChunk bytes, whatever the sizes of the files. A chunk ends
//   - after a hit that comes MinChunk bytes or more after the hit before
//     it (so every chunk so ended holds MinChunk bytes or more);
//   - before a path weighing MaxChunk or more, which gets a chunk of its
//     own;
//   - after a path once the chunk holds MaxChunk bytes (rare: chunks
//     average AvgChunk*e^(MinChunk/AvgChunk), 22 MiB; one in ten passes
//     36 MiB, one in a hundred 55 MiB).
//
// Whether a path ends a chunk depends only on it and the paths since the
// hit before it, never on where the chunk began: the same tree always
// gives the same chunks, and adding, removing or changing one file moves
// at most two boundaries (its own and the next hit's), so it changes the
// chunk holding it and at most one more, unless a MaxChunk cut is
// involved. An app under MinChunk bytes is one layer, as it always was.
const (
	MinChunk = 8 << 20
	AvgChunk = 8 << 20
	MaxChunk = 64 << 20
	// MaxAppChunks bounds the app's chunks, below what the image's
	// other layers leave of MaxImageLayers. A bigger app gets bigger
	// chunks (see chunking.split).
	MaxAppChunks = 64
)

// chunking is how the app's rest is cut: the byte sizes above, scaled.
type chunking struct{ min, avg, max int64 }

var appChunking = chunking{min: MinChunk, avg: AvgChunk, max: MaxChunk}

// split cuts idx, entries of l in walk order, into at most budget chunks
// (at least one, maybe empty). A tree that would need more chunks than
// budget at the nominal size is cut with all sizes scaled by a power of
// two derived from its total, so that the scale, and with it every
// boundary, changes only when the total crosses a power of two; should
// the chunks still be too many, the scale doubles until they fit.
func (c chunking) split(l *archive.Listing, idx []int, budget int) [][]int {
	budget = max(budget, 1)
	var total int64
	for _, i := range idx {
		total += weight(l.Entries[i])
	}
	nominal := c.min + c.avg
	scale := int64(1)
	if need := ceilDiv(total, nominal); need > int64(budget) {
		scale = pow2Ceil(ceilDiv(need, int64(budget)))
	}
	for {
		chunks := c.scaled(scale).cut(l, idx)
		if len(chunks) <= budget || scale >= math.MaxInt64/(2*c.max) {
			return chunks
		}
		scale *= 2
	}
}

func (c chunking) scaled(s int64) chunking {
	return chunking{min: c.min * s, avg: c.avg * s, max: c.max * s}
}

// cut applies the boundary rule (see MinChunk) to idx.
func (c chunking) cut(l *archive.Listing, idx []int) [][]int {
	// A path is a hit when its hash < w*per: with probability w/avg.
	per := uint64(math.MaxUint64) / uint64(c.avg)
	var out [][]int
	var cur []int
	var size, gap int64 // bytes since the last boundary, since the last hit
	end := func() {
		out = append(out, cur)
		cur, size = nil, 0
	}
	for _, i := range idx {
		e := l.Entries[i]
		w := weight(e)
		if w >= c.max && len(cur) > 0 {
			end()
		}
		cur = append(cur, i)
		size += w
		gap += w
		hi, lo := bits.Mul64(uint64(w), per)
		hit := hi > 0 || pathHash(e.Rel) < lo
		if (hit && gap >= c.min) || size >= c.max {
			end()
		}
		if hit {
			gap = 0
		}
	}
	if len(cur) > 0 || len(out) == 0 {
		out = append(out, cur)
	}
	return out
}

// weight is what a listed path adds to a tar: a header, and a regular
// file's content in 512-byte blocks.
func weight(e archive.Listed) int64 {
	w := int64(512)
	if e.Mode.IsRegular() {
		w += (max(e.Size, 0) + 511) &^ 511
	}
	return w
}

// pathHash is a well-mixed 64-bit hash of a path (FNV-1a, then the
// splitmix64 finaliser): fixed, so chunks are the same on every machine.
func pathHash(rel string) uint64 {
	x := uint64(14695981039346656037) // FNV-1a offset basis
	for i := 0; i < len(rel); i++ {
		x ^= uint64(rel[i])
		x *= 1099511628211
	}
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// pow2Ceil is the least power of two >= n (n >= 1).
func pow2Ceil(n int64) int64 {
	if n <= 1 {
		return 1
	}
	return 1 << bits.Len64(uint64(n-1))
}
