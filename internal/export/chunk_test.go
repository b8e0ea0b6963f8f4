package export

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/lifecycle/launch"
)

// withChunking sets the app's chunk sizes for one test.
func withChunking(t testing.TB, c chunking) {
	old := appChunking
	appChunking = c
	t.Cleanup(func() { appChunking = old })
}

// fakeListing is a listing of files of the given sizes, in walk order.
func fakeListing(sizes []int64) *archive.Listing {
	l := &archive.Listing{Entries: []archive.Listed{{Rel: ".", Mode: fs.ModeDir | 0o755}}}
	for i, s := range sizes {
		l.Entries = append(l.Entries, archive.Listed{Rel: fmt.Sprintf("d%03d/f%06d", i/100, i), Mode: 0o644, Size: s})
	}
	return l
}

// chunkID names a chunk by the paths and sizes of its files: chunks
// compare by it.
func chunkID(l *archive.Listing, ch []int) string {
	h := sha256.New()
	for _, i := range ch {
		h.Write([]byte(l.Entries[i].Rel))
		h.Write(binary.LittleEndian.AppendUint64([]byte{0}, uint64(l.Entries[i].Size)))
	}
	return string(h.Sum(nil))
}

// chunkIDs are the IDs of chunks.
func chunkIDs(l *archive.Listing, chunks [][]int) map[string]bool {
	out := map[string]bool{}
	for _, ch := range chunks {
		out[chunkID(l, ch)] = true
	}
	return out
}

// newChunks counts the chunks of b that a lacks.
func newChunks(a, b map[string]bool) int {
	n := 0
	for c := range b {
		if !a[c] {
			n++
		}
	}
	return n
}

func randomSizes(r *rand.Rand, n int, maxSize int64) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = r.Int64N(maxSize)
	}
	return out
}

func TestChunkRule(t *testing.T) {
	c := appChunking
	r := rand.New(rand.NewPCG(1, 2))
	sizes := randomSizes(r, 5000, 200<<10) // ~500 MB
	sizes[1234] = 100 << 20                // bigger than MaxChunk
	l := fakeListing(sizes)
	chunks := c.split(l, l.All(), MaxAppChunks)
	if d := cmp.Diff(chunks, c.split(fakeListing(sizes), l.All(), MaxAppChunks)); d != "" {
		t.Fatalf("chunking is not deterministic:\n%s", d)
	}
	if len(chunks) < 15 || len(chunks) > 60 {
		t.Errorf("%d chunks of ~500 MB, want ~16 MiB each", len(chunks))
	}
	var all []int
	for k, ch := range chunks {
		all = append(all, ch...)
		var size int64
		for _, i := range ch {
			size += weight(l.Entries[i])
		}
		big := slices.Contains(ch, 1235)
		switch {
		case big && len(ch) != 1:
			t.Errorf("chunk %d holds the big file and %d others", k, len(ch)-1)
		case !big && size > c.max+weight(l.Entries[ch[len(ch)-1]]):
			t.Errorf("chunk %d holds %d bytes, over the max", k, size)
		case !big && size < c.min && k != len(chunks)-1 && !slices.Contains(chunks[k+1], 1235):
			t.Errorf("chunk %d holds %d bytes, under the min", k, size)
		}
	}
	if d := cmp.Diff(l.All(), all); d != "" {
		t.Errorf("chunks do not cover the listing in order:\n%s", d)
	}

	// Small: one chunk.
	small := fakeListing(randomSizes(r, 2000, 4<<10))
	if got := c.split(small, small.All(), MaxAppChunks); len(got) != 1 {
		t.Errorf("a small app got %d chunks", len(got))
	}
	empty := fakeListing(nil)
	if got := c.split(empty, []int{0}, MaxAppChunks); len(got) != 1 || len(got[0]) != 1 {
		t.Errorf("an empty app got chunks %v", got)
	}
}

// regions numbers the natural chunks of l: those cut where the paths
// say (after hits MinChunk past the hit before), not at MaxChunk.
func regions(c chunking, l *archive.Listing) map[string]int {
	c.max = math.MaxInt64 / 2
	out := map[string]int{}
	for k, ch := range c.cut(l, l.All()) {
		for _, i := range ch {
			out[l.Entries[i].Rel] = k
		}
	}
	return out
}

// Changing, adding or removing one file changes the chunks of at most
// two natural chunks (cut where the paths say): one or two chunks, unless
// a natural chunk passes MaxChunk, which is rare.
func TestChunkLocality(t *testing.T) {
	c := appChunking
	r := rand.New(rand.NewPCG(3, 4))
	for _, maxSize := range []int64{60 << 10, 4 << 20} {
		sizes := randomSizes(r, int(500<<20/(maxSize/2)), maxSize) // ~500 MB
		l := fakeListing(sizes)
		base := chunkIDs(l, c.cut(l, l.All()))
		counts := map[int]int{}
		for range 100 {
			k := 1 + r.IntN(len(sizes))
			changed := slices.Clone(l.Entries)
			switch r.IntN(3) {
			case 0: // resized
				changed[k].Size += 1 + r.Int64N(maxSize)
			case 1: // removed
				changed = slices.Delete(changed, k, k+1)
			case 2: // added after k
				e := changed[k]
				e.Rel += ".new"
				changed = slices.Insert(changed, k+1, e)
			}
			l2 := &archive.Listing{Entries: changed}
			chunks := c.cut(l2, l2.All())
			ids, natural := chunkIDs(l2, chunks), regions(c, l2)
			touched := map[int]bool{}
			for _, ch := range chunks {
				if !base[chunkID(l2, ch)] {
					for _, i := range ch {
						touched[natural[l2.Entries[i].Rel]] = true
					}
				}
			}
			n := newChunks(base, ids)
			counts[n]++
			if n == 0 || len(touched) > 2 {
				t.Errorf("files < %d bytes, change at %d: %d new chunks in %d natural chunks", maxSize, k, n, len(touched))
			}
		}
		if counts[1]+counts[2] < 95 {
			t.Errorf("files < %d bytes: one changed file changed %v chunks (how many: times)", maxSize, counts)
		}
	}
}

// A tree too big for the chunk budget gets bigger chunks, scaled by a
// power of two of its total: a little more data keeps the boundaries.
func TestChunkBudget(t *testing.T) {
	c := appChunking
	r := rand.New(rand.NewPCG(5, 6))
	sizes := randomSizes(r, 40000, 200<<10) // ~4 GB
	l := fakeListing(sizes)
	for _, budget := range []int{MaxAppChunks, 20, 3, 1, 0, -5} {
		got := c.split(l, l.All(), budget)
		if len(got) > max(budget, 1) || (budget > 3 && len(got) < budget/4) {
			t.Errorf("budget %d: %d chunks", budget, len(got))
		}
	}
	base := chunkIDs(l, c.split(l, l.All(), 20))
	more := fakeListing(append(slices.Clone(sizes), 1<<20))
	if n := newChunks(base, chunkIDs(more, c.split(more, more.All(), 20))); n > 1 {
		t.Errorf("one more file at the end changed %d chunks", n)
	}
	if pow2Ceil(1) != 1 || pow2Ceil(3) != 4 || pow2Ceil(4) != 4 || pow2Ceil(5) != 8 {
		t.Error("pow2Ceil")
	}
}

// fillApp writes n incompressible files of size bytes under dir, spread
// over a few directories, fast: each is a window of one random block.
func fillApp(t testing.TB, dir string, n int, size int) {
	t.Helper()
	block := make([]byte, 1<<20)
	if _, err := rand.NewChaCha8([32]byte{1}).Read(block); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, size)
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("d%02d", i%10), fmt.Sprintf("f%04d.bin", i))
		if i < 10 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for k, off := 0, (i*7919)%len(block); k < size; off = 0 {
			k += copy(buf[k:], block[off:])
		}
		copy(buf, fmt.Sprintf("file %d\n", i))
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// appSHAs are the app layers' diffIDs of an export.
func appSHAs(res *Result) []string {
	var out []string
	for _, a := range res.Lifecycle.App {
		out = append(out, a.SHA)
	}
	return out
}

// A change to one file of a 200 MB app re-makes one chunk; the export
// takes every other chunk from the previous image.
func TestExportChunksReuse(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 200 MB")
	}
	ctx := context.Background()
	run, _ := random.Image(10, 1)
	layers, app, md := fixture(t)
	md.Slices = nil
	fillApp(t, app, 400, 512<<10)
	var log strings.Builder
	o := options(t, run, layers, app, md)
	o.Log = &log
	first, err := Export(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	n := len(first.Lifecycle.App)
	if n < 6 || n > 25 || strings.Count(log.String(), "Adding layer app (chunk ") != n {
		t.Fatalf("%d app layers for 200 MB, log:\n%s", n, log.String())
	}
	ls, _ := first.Image.Layers()
	if len(ls) != 1+2+n+2 {
		t.Errorf("%d layers, want %d", len(ls), 1+2+n+2)
	}

	o.Previous, o.Memo = first.Image, first.Memo
	log.Reset()
	same, err := Export(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(log.String(), "Reusing unchanged layer app (chunk "); got != n {
		t.Errorf("an unchanged app reused %d of %d chunks:\n%s", got, n, log.String())
	}
	if d1, d2 := digest(t, first.Image), digest(t, same.Image); d1 != d2 {
		t.Errorf("reuse changed the digest: %s -> %s", d1, d2)
	}

	// Same size, new content and mtime.
	p := filepath.Join(app, "d03", "f0123.bin")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	log.Reset()
	changed, err := Export(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(log.String(), "Adding layer app (chunk "); got != 1 {
		t.Errorf("one changed file re-made %d chunks:\n%s", got, log.String())
	}
	if got := strings.Count(log.String(), "Reusing unchanged layer app (chunk "); got != n-1 {
		t.Errorf("reused %d of %d chunks:\n%s", got, n, log.String())
	}
	var newFPs []string
	for fp := range changed.Memo {
		if _, ok := first.Memo[fp]; !ok {
			newFPs = append(newFPs, fp)
		}
	}
	if len(newFPs) != 1 {
		t.Errorf("%d fingerprints changed, want 1", len(newFPs))
	}
	a, c := appSHAs(first), appSHAs(changed)
	var diff []string
	for i := range min(len(a), len(c)) {
		if a[i] != c[i] {
			diff = append(diff, c[i])
		}
	}
	if len(c) != n || len(diff) != 1 {
		t.Fatalf("app layers %d -> %d, %d differ; want one", n, len(c), len(diff))
	}
	if got := overlay(t, changed.Image, diff); got["workspace/d03/f0123.bin"].sum != sum(b) {
		t.Error("the new chunk lacks the changed file's new content")
	}
}

func digest(t testing.TB, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// node is what the tests compare of a tar entry.
type node struct {
	typ      byte
	mode     int64
	uid, gid int
	mtime    int64
	link     string
	sum      string
}

// readNodes reads a tar into nodes by name, failing on a name given twice
// with different headers or content.
func readNodes(t testing.TB, r io.Reader, into map[string]node) {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		n := node{h.Typeflag, h.Mode, h.Uid, h.Gid, h.ModTime.Unix(), h.Linkname, sum(b)}
		name := strings.TrimSuffix(h.Name, "/")
		if old, ok := into[name]; ok && old != n {
			t.Errorf("%s: layers disagree: %+v vs %+v", name, old, n)
		}
		into[name] = n
	}
}

// overlay untars the image's layers with the given diffIDs, in order.
func overlay(t testing.TB, img v1.Image, shas []string) map[string]node {
	t.Helper()
	out := map[string]node{}
	for _, s := range shas {
		h, err := v1.NewHash(s)
		if err != nil {
			t.Fatal(err)
		}
		l, err := img.LayerByDiffID(h)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		readNodes(t, rc, out)
		if err := rc.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// oneLayer is the app layer as kiln made it before chunks: one tar of
// the whole app dir.
func oneLayer(t testing.TB, app string) map[string]node {
	t.Helper()
	tr := archive.NewTar()
	o := archive.DirOptions{Owner: archive.Owner{UID: 1234, GID: 2345}, ParentOwner: archive.Owner{UID: 1234, GID: 2345}}
	if err := tr.AddDir(context.Background(), app, "workspace", o); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tr.Write(context.Background(), pw)) }()
	out := map[string]node{}
	readNodes(t, pr, out)
	return out
}

// trickyApp adds to app what a tar can get wrong: modes, links, an empty
// directory, special files and names sorting apart from bytes.
func trickyApp(t *testing.T, app string) {
	t.Helper()
	for i := range 300 {
		write(t, filepath.Join(app, "src", fmt.Sprintf("p%d", i%7), fmt.Sprintf("m%03d.js", i)), strings.Repeat(fmt.Sprint(i), 200+i))
	}
	write(t, filepath.Join(app, "a b"), "space")
	write(t, filepath.Join(app, "a", "c"), "c")
	write(t, filepath.Join(app, "a-b"), "dash")
	write(t, filepath.Join(app, "bin", "run"), "#!/bin/sh\n")
	must(t, os.Chmod(filepath.Join(app, "bin", "run"), 0o4755))
	must(t, os.Chmod(filepath.Join(app, "a"), 0o700))
	must(t, os.Chmod(filepath.Join(app, "src", "p3"), 0o750))
	must(t, os.Mkdir(filepath.Join(app, "empty"), 0o2770))
	must(t, os.Symlink("../a/c", filepath.Join(app, "bin", "c")))
	must(t, os.Symlink("/etc/passwd", filepath.Join(app, "passwd")))
	must(t, os.Symlink("missing", filepath.Join(app, "dangling")))
	must(t, syscall.Mkfifo(filepath.Join(app, "src", "fifo"), 0o644))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Untarring every app layer of a chunked export, in order, gives the
// tree the one app layer of old gave: same paths, modes, owners, mtimes
// and contents, slices or not.
func TestExportChunksUntarLikeOneLayer(t *testing.T) {
	withChunking(t, chunking{min: 4 << 10, avg: 4 << 10, max: 16 << 10})
	run, _ := random.Image(10, 1)
	for _, tc := range []struct {
		name   string
		slices []launch.Slice
	}{
		{"no slices", nil},
		{"slices", []launch.Slice{{Paths: []string{"static/*", "src/p1"}}, {Paths: []string{"a", "bin/*"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			layers, app, md := fixture(t)
			trickyApp(t, app)
			md.Slices = tc.slices
			res, err := Export(context.Background(), options(t, run, layers, app, md))
			if err != nil {
				t.Fatal(err)
			}
			shas := appSHAs(res)
			if len(shas) < 10 {
				t.Fatalf("%d app layers, want many chunks", len(shas))
			}
			want := oneLayer(t, app)
			if d := cmp.Diff(want, overlay(t, res.Image, shas), cmp.AllowUnexported(node{})); d != "" {
				t.Errorf("app layers untar to another tree (-one layer +chunks):\n%s", d)
			}
			// In image order, just above the SBOM layer.
			ls, _ := res.Image.Layers()
			for i, s := range shas {
				if d, _ := ls[1+2+i].DiffID(); d.String() != s {
					t.Errorf("app layer %d is not at image layer %d", i, 1+2+i)
				}
			}
		})
	}
}

// An app under MinChunk keeps the one app layer it always had, byte for
// byte; so do its slices.
func TestExportSmallAppOneLayer(t *testing.T) {
	run, _ := random.Image(10, 1)
	layers, app, md := fixture(t)
	fillApp(t, app, 20, 300<<10) // 6 MB
	for _, ss := range [][]launch.Slice{nil, md.Slices} {
		md.Slices = ss
		var log strings.Builder
		o := options(t, run, layers, app, md)
		o.Log = &log
		res, err := Export(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(res.Lifecycle.App), 1+len(ss); got != want || strings.Contains(log.String(), "chunk") {
			t.Fatalf("slices %v: %d app layers, want %d; log:\n%s", ss, got, want, log.String())
		}
		tr := archive.NewTar()
		dopts := archive.DirOptions{Owner: archive.Owner{UID: 1234, GID: 2345}, ParentOwner: archive.Owner{UID: 1234, GID: 2345}}
		var err2 error
		if ss == nil {
			err2 = tr.AddDir(context.Background(), app, "workspace", dopts)
		} else {
			err2 = tr.AddPaths(context.Background(), app, "workspace", []string{"d00", "d01", "d02", "d03", "d04", "d05", "d06", "d07", "d08", "d09", "main.sh"}, dopts)
		}
		must(t, err2)
		l, err := archive.NewLayer(context.Background(), tr, archive.WithTempDir(t.TempDir()))
		must(t, err)
		d, _ := l.DiffID()
		if got := res.Lifecycle.App[len(ss)].SHA; got != d.String() {
			t.Errorf("slices %v: app layer %s, the one layer of old is %s", ss, got, d)
		}
	}
}

// However many files, the app's layers keep the image within
// MaxImageLayers, and within MaxAppChunks.
func TestExportAppLayerBound(t *testing.T) {
	withChunking(t, chunking{min: 1 << 10, avg: 1 << 10, max: 4 << 10})
	_, app, _ := fixture(t)
	for i := range 1500 {
		write(t, filepath.Join(app, "many", fmt.Sprintf("%02d", i%50), fmt.Sprintf("f%04d", i)), strings.Repeat("x", i%1500))
	}
	for _, tc := range []struct {
		runLayers int
		want      int // most app layers: slice + chunks
	}{
		{1, 1 + MaxAppChunks},
		{100, MaxImageLayers - 100 - 2 - 2},
	} {
		run, err := random.Image(10, int64(tc.runLayers))
		must(t, err)
		layers, _, md := fixture(t)
		res, err := Export(context.Background(), options(t, run, layers, app, md))
		if err != nil {
			t.Fatalf("%d run layers: %v", tc.runLayers, err)
		}
		ls, _ := res.Image.Layers()
		if n := len(res.Lifecycle.App); n > tc.want || n < tc.want/4 || len(ls) > MaxImageLayers {
			t.Errorf("%d run layers: %d app layers (at most %d), %d in all", tc.runLayers, n, tc.want, len(ls))
		}
	}
}

// A slice's layer and the chunks of the rest are reused apart.
func TestExportSlicesAndChunksReuse(t *testing.T) {
	withChunking(t, chunking{min: 4 << 10, avg: 4 << 10, max: 16 << 10})
	ctx := context.Background()
	run, _ := random.Image(10, 1)
	layers, app, md := fixture(t)
	trickyApp(t, app)
	var log strings.Builder
	o := options(t, run, layers, app, md)
	o.Log = &log
	first, err := Export(ctx, o)
	must(t, err)
	o.Previous, o.Memo = first.Image, first.Memo
	write(t, filepath.Join(app, "static", "a.css"), "changed")
	log.Reset()
	second, err := Export(ctx, o)
	must(t, err)
	if !strings.Contains(log.String(), "Adding layer app slice 1\n") || strings.Contains(log.String(), "Adding layer app (chunk") {
		t.Errorf("a slice change re-made more than the slice:\n%s", log.String())
	}
	p := filepath.Join(app, "src", "p2", "m100.js")
	b, err := os.ReadFile(p)
	must(t, err)
	write(t, p, strings.Repeat("y", len(b))) // same size: same boundaries
	log.Reset()
	third, err := Export(ctx, o)
	must(t, err)
	if got := strings.Count(log.String(), "Adding layer app"); got != 2 || !strings.Contains(log.String(), "Adding layer app slice 1\n") {
		// slice 1 changed since first (the memo's image), plus one chunk
		t.Errorf("re-made %d app layers, want the slice and one chunk:\n%s", got, log.String())
	}
	if len(second.Lifecycle.App) != len(third.Lifecycle.App) {
		t.Errorf("app layers %d -> %d", len(second.Lifecycle.App), len(third.Lifecycle.App))
	}
}
