package workspace

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// benchSource is a 500 MB tree of 2,000 files in 20 directories.
func benchSource(b *testing.B) string {
	b.Helper()
	src := filepath.Join(b.TempDir(), "src")
	buf := make([]byte, 250<<10)
	for d := range 20 {
		dir := filepath.Join(src, fmt.Sprintf("pkg%02d", d))
		must(b, os.MkdirAll(dir, 0o755))
		for f := range 100 {
			rand.Read(buf[:64])
			must(b, os.WriteFile(filepath.Join(dir, fmt.Sprintf("file%03d.dat", f)), buf, 0o644))
		}
	}
	return src
}

// BenchmarkNoopRebuild is one build's workspace cost when nothing
// changed: take the kept workspace, sync it, write the manifest, hand it
// back.
func BenchmarkNoopRebuild(b *testing.B) {
	src := benchSource(b)
	base := firstBuild(b, src, nil, nil)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		nb := newBuild(b, base, i+2)
		b.StartTimer()
		nb.mustPrepare(src, nil)
		if !nb.stats.Reused || nb.stats.Copied != 0 {
			b.Fatalf("stats %+v", nb.stats)
		}
		nb.keep()
	}
}

// BenchmarkNoopSync is the sync alone (the two lstat walks and the
// comparisons).
func BenchmarkNoopSync(b *testing.B) {
	src := benchSource(b)
	base := firstBuild(b, src, nil, nil)
	nb := newBuild(b, base, 2)
	m, err := take(nb.layout)
	must(b, err)
	for b.Loop() {
		if m, _, err = Sync(bg, src, nb.layout.App, m, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFullCopy is what a build without a kept workspace pays.
func BenchmarkFullCopy(b *testing.B) {
	src := benchSource(b)
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		nb := newBuild(b, b.TempDir(), i)
		b.StartTimer()
		nb.mustPrepare(src, nil)
	}
}

// BenchmarkTwoLstatWalks is the floor a no-op sync is measured against:
// lstat every entry of the source and of the workspace, nothing else.
func BenchmarkTwoLstatWalks(b *testing.B) {
	src := benchSource(b)
	base := firstBuild(b, src, nil, nil)
	ws := filepath.Join(base, "cache", "workspace", treeName)
	for b.Loop() {
		for _, root := range []string{src, ws} {
			if _, err := scan(bg, root); err != nil {
				b.Fatal(err)
			}
		}
	}
}
