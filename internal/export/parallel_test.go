package export

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/labels"
	"github.com/kiln-build/kiln/lifecycle/launch"
)

// manyLayers adds launch layers and app slices to the fixture, so that
// layers of different sizes finish in different orders.
func manyLayers(t *testing.T, layers, app string, o *Options) {
	t.Helper()
	for i := range 12 {
		name := fmt.Sprintf("l%02d", i)
		write(t, filepath.Join(layers, "acme_rt", name+".toml"), "[types]\nlaunch = true\n")
		write(t, filepath.Join(layers, "acme_rt", name, "f"), strings.Repeat(name, (12-i)*20000))
	}
	for i := range 6 {
		write(t, filepath.Join(app, fmt.Sprintf("s%d", i), "f"), strings.Repeat("x", i*50000))
		o.Metadata.Slices = append(o.Metadata.Slices, launch.Slice{Paths: []string{fmt.Sprintf("s%d", i)}})
	}
}

func exportDigests(t *testing.T, o Options) (v1.Hash, []v1.Hash, labels.Lifecycle, string) {
	t.Helper()
	var log strings.Builder
	o.Log = &log
	res, err := Export(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	d, err := res.Image.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ls, err := res.Image.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var ds []v1.Hash
	for _, l := range ls {
		h, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, h)
	}
	return d, ds, res.Lifecycle, log.String()
}

// Layers built concurrently give the very image one worker gives: same
// layer order, digests, label and log.
func TestExportParallelIsReproducible(t *testing.T) {
	run, err := random.Image(100, 2)
	if err != nil {
		t.Fatal(err)
	}
	layers, app, md := fixture(t)
	o := options(t, run, layers, app, md)
	manyLayers(t, layers, app, &o)

	o.Parallelism = 1
	d1, l1, md1, log1 := exportDigests(t, o)
	for _, p := range []int{0, 3, 64} {
		o.Parallelism = p
		for range 3 {
			d, l, mdp, logp := exportDigests(t, o)
			if d != d1 {
				t.Errorf("parallelism %d: image %s, one worker %s", p, d, d1)
			}
			if diff := cmp.Diff(l1, l); diff != "" {
				t.Errorf("parallelism %d: layers differ (-1 worker +parallel):\n%s", p, diff)
			}
			if diff := cmp.Diff(md1, mdp); diff != "" {
				t.Errorf("parallelism %d: lifecycle label differs:\n%s", p, diff)
			}
			if logp != log1 {
				t.Errorf("parallelism %d: log differs:\n%s\nwant:\n%s", p, logp, log1)
			}
		}
	}
	// run(2) + rt + l00..l11 + SBOM + static slice + s0..s5 + app + launcher + config
	if n := len(l1); n != 2+1+12+1+1+6+1+1+1 {
		t.Errorf("%d layers", n)
	}
}

// Of several failing layers, the error is always the first one's in
// image order.
func TestExportParallelFirstError(t *testing.T) {
	run, _ := random.Image(10, 1)
	layers, app, md := fixture(t)
	o := options(t, run, layers, app, md)
	manyLayers(t, layers, app, &o)
	// Two launch layers with metadata only and no previous image.
	for _, n := range []string{"l05", "l09"} {
		if err := os.RemoveAll(filepath.Join(layers, "acme_rt", n)); err != nil {
			t.Fatal(err)
		}
	}
	o.Group = []descriptor.GroupEntry{{ID: "acme/rt", Version: "1.0", API: "0.12"}}
	for _, p := range []int{1, 0, 64} {
		o.Parallelism = p
		for range 5 {
			_, err := Export(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), "launch layer acme/rt:l05 has no contents") {
				t.Fatalf("parallelism %d: error %v, want the one of acme/rt:l05", p, err)
			}
		}
	}
}

func TestBuildAllFirstFailureInOrder(t *testing.T) {
	errSlow, errFast := errors.New("slow"), errors.New("fast")
	var cancelled atomic.Int32
	jobs := make([]pending, 8)
	for i := range jobs {
		jobs[i].build = func(ctx context.Context) (built, error) {
			switch i {
			case 1: // fails last, but comes first
				time.Sleep(50 * time.Millisecond)
				return built{}, errSlow
			case 2:
				return built{}, errFast
			case 0:
				return built{what: "ok"}, nil
			}
			select {
			case <-ctx.Done():
				cancelled.Add(1)
				return built{}, ctx.Err()
			case <-time.After(5 * time.Second):
				return built{}, errors.New("not cancelled")
			}
		}
	}
	start := time.Now()
	_, err := buildAll(context.Background(), jobs, 8)
	if !errors.Is(err, errSlow) {
		t.Errorf("error %v, want %v", err, errSlow)
	}
	// Builds after the failure are cancelled, or skipped before starting.
	if time.Since(start) > 2*time.Second {
		t.Errorf("later builds were not cancelled (%d cancelled, %s)", cancelled.Load(), time.Since(start))
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := buildAll(ctx, jobs[:1], 2); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
