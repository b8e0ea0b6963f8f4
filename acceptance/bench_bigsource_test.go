//go:build acceptance

package acceptance

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// benchBigSource: an app with a 500 MB source tree (a static site beside
// 500 files of 1 MB of incompressible bytes), published through the
// counting proxy: cold, no-op rebuild, and a rebuild after a change to one
// small file. The targets are the issue's: a no-op costs no read of the
// tree (≤ 0.3 s; the reference lifecycle takes 2.2 s on such a tree), a
// one-file change costs that file (≤ 0.5 s).
func (be *benchEnv) benchBigSource(b *testing.B, table *benchTable) {
	src := filepath.Join(b.TempDir(), "big")
	for i := 0; i < 500; i++ {
		dir := filepath.Join(src, "assets", string(rune('a'+i%20)))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		f, err := os.Create(filepath.Join(dir, "blob-"+strconv.Itoa(i)+".bin"))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyN(f, randReader{}, 1<<20); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	index := filepath.Join(src, "index.html")
	if err := os.WriteFile(index, []byte("<h1>big</h1>\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	ref := be.proxy.Host + "/bench/big-source:latest"
	build := func(extra ...string) (time.Duration, int64) {
		before := be.proxy.Uploaded()
		args := append([]string{"build", ref, "--path", src, "--publish", "--run-image", be.runImage}, extra...)
		d := timed(func() { mustKiln(b, args...) })
		return d, be.proxy.Uploaded() - before
	}
	cold, coldBytes := build("--clear-cache")
	table.add("500 MB source", "cold build", secs(cold), "", "")
	table.add("500 MB source", "cold build, layer bytes uploaded", mib(coldBytes), "", "")
	var noops []time.Duration
	var noopBytes int64
	for range 3 {
		d, n := build()
		noops, noopBytes = append(noops, d), noopBytes+n
	}
	noop := median(noops)
	table.add("500 MB source", "no-op rebuild (median of 3)", secs(noop), "target <= 0.30 s (reference lifecycle 2.2 s)", ratio(noop, 300*time.Millisecond))
	table.add("500 MB source", "no-op rebuild, layer bytes uploaded", mib(noopBytes), "target 0", "")
	var changes []time.Duration
	var changeBytes int64
	for i := range 3 {
		if err := os.WriteFile(index, []byte("<h1>big "+strconv.Itoa(i)+"</h1>\n"), 0o644); err != nil {
			b.Fatal(err)
		}
		d, n := build()
		changes, changeBytes = append(changes, d), n
	}
	change := median(changes)
	table.add("500 MB source", "rebuild after a one-file change (median of 3)", secs(change), "target <= 0.50 s", ratio(change, 500*time.Millisecond))
	table.add("500 MB source", "one-file change, layer bytes uploaded", mib(changeBytes), "", "")
}
