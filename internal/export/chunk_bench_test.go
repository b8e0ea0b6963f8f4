package export

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

// BenchmarkExportAppChange times an export of a 500 MB app after one
// small file changed, with the previous image and its memo: what a
// rebuild after a one-line edit costs in export. "one-layer" is the app
// in one layer, as before chunks.
func BenchmarkExportAppChange(b *testing.B) {
	run, err := random.Image(1024, 1)
	if err != nil {
		b.Fatal(err)
	}
	layers, app, md := fixture(b)
	md.Slices = nil
	fillApp(b, app, 1000, 512<<10) // 500 MiB of incompressible files
	small := filepath.Join(app, "d05", "config.js")
	for _, bc := range []struct {
		name string
		c    chunking
	}{
		{"chunks", appChunking},
		{"one-layer", chunking{min: math.MaxInt64 / 4, avg: MinChunk, max: math.MaxInt64 / 4}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			withChunking(b, bc.c)
			ctx := context.Background()
			o := options(b, run, layers, app, md)
			var log strings.Builder
			o.Log = &log
			prev, err := Export(ctx, o)
			if err != nil {
				b.Fatal(err)
			}
			edits := 0
			log.Reset()
			for b.Loop() {
				edits++
				if err := os.WriteFile(small, []byte(strings.Repeat("x", edits%100)+fmt.Sprint(edits)), 0o644); err != nil {
					b.Fatal(err)
				}
				o.Previous, o.Memo = prev.Image, prev.Memo
				res, err := Export(ctx, o)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				dropUnused(b, prev.Image, res.Image)
				prev = res
				b.StartTimer()
			}
			b.ReportMetric(float64(len(prev.Lifecycle.App)), "app-layers")
			b.ReportMetric(float64(strings.Count(log.String(), "Adding layer app"))/float64(edits), "app-layers-made/op")
		})
	}
}

// dropUnused removes the files of old's layers that img does not reuse.
func dropUnused(t testing.TB, old, img v1.Image) {
	t.Helper()
	keep := map[v1.Hash]bool{}
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		d, err := l.DiffID()
		if err != nil {
			t.Fatal(err)
		}
		keep[d] = true
	}
	if ls, err = old.Layers(); err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		d, err := l.DiffID()
		if err != nil {
			t.Fatal(err)
		}
		if c, ok := l.(interface{ Close() error }); ok && !keep[d] {
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}
