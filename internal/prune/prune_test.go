package prune

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/internal/cache"
	"github.com/kiln-build/kiln/internal/flock"
)

func TestEvictLeastRecentlyUsedFirst(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	items := []Item{
		{Kind: KindCache, Path: "c", Size: 30, LastUse: at(3)},
		{Kind: KindCache, Path: "a", Size: 10, LastUse: at(1)},
		{Kind: KindRootFS, Path: "r", Size: 50, LastUse: at(5)},
		{Kind: KindCache, Path: "b", Size: 20, LastUse: at(2)},
		{Kind: KindCache, Path: "b2", Size: 20, LastUse: at(2)},
	}
	for _, tc := range []struct {
		name    string
		max     int64
		busy    map[string]bool
		removed []string
		busyOut []string
	}{
		{name: "under the cap", max: 130},
		{name: "one over", max: 129, removed: []string{"a"}},
		{name: "ties by path", max: 100, removed: []string{"a", "b"}},
		{name: "down to the newest", max: 50, removed: []string{"a", "b", "b2", "c"}},
		{name: "busy ones stay and count", max: 50, busy: map[string]bool{"b": true},
			removed: []string{"a", "b2", "c", "r"}, busyOut: []string{"b"}},
		{name: "all", max: -1, busy: map[string]bool{"r": true},
			removed: []string{"a", "b", "b2", "c"}, busyOut: []string{"r"}},
		{name: "zero cap", max: 0, removed: []string{"a", "b", "b2", "c", "r"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			removed, busy, errs := Evict(items, tc.max, func(it Item) (int64, error) {
				if tc.busy[it.Path] {
					return 0, fmt.Errorf("x: %w", flock.ErrBusy)
				}
				return it.Size, nil
			})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			var got, gotBusy []string
			for _, r := range removed {
				got = append(got, r.Path)
			}
			for _, b := range busy {
				gotBusy = append(gotBusy, b.Path)
			}
			if diff := cmp.Diff(tc.removed, got); diff != "" {
				t.Errorf("removed (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.busyOut, gotBusy); diff != "" {
				t.Errorf("busy (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvictFailureGoesOn(t *testing.T) {
	items := []Item{{Path: "a", Size: 10, LastUse: time.Unix(1, 0)}, {Path: "b", Size: 10, LastUse: time.Unix(2, 0)}}
	removed, _, errs := Evict(items, 10, func(it Item) (int64, error) {
		if it.Path == "a" {
			return 0, errors.New("permission denied")
		}
		return it.Size, nil
	})
	if len(errs) != 1 || len(removed) != 1 || removed[0].Path != "b" {
		t.Errorf("removed %v, errors %v", removed, errs)
	}
}

// Run over a real cache dir: caches beyond the cap go, oldest first; the
// one a build holds stays.
func TestRunCap(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	layers := filepath.Join(root, "layers")
	var held *cache.Cache
	for i, n := range []string{"old", "busy", "mid", "new"} {
		c, err := cache.Open(ctx, filepath.Join(layers, n))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(layers, n, "fingerprints.json"), make([]byte, 64<<10), 0o644)
		when := time.Now().Add(time.Duration(i-10) * time.Minute)
		os.Chtimes(filepath.Join(layers, n, "used"), when, when)
		if n == "busy" {
			held = c
			continue
		}
		c.Close()
	}
	defer held.Close()
	r, err := Run(ctx, Options{CacheDir: root, Max: 150 << 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range r.Removed {
		got = append(got, filepath.Base(x.Path))
	}
	if diff := cmp.Diff([]string{"old", "mid"}, got); diff != "" {
		t.Errorf("removed (-want +got):\n%s", diff)
	}
	if len(r.Busy) != 1 || filepath.Base(r.Busy[0].Path) != "busy" {
		t.Errorf("busy: %+v", r.Busy)
	}
	if r.Size > 150<<10 || r.Freed() < 128<<10 {
		t.Errorf("size after %d, freed %d", r.Size, r.Freed())
	}
	for _, n := range []string{"busy", "new"} {
		if _, err := os.Stat(filepath.Join(layers, n, "fingerprints.json")); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
}

// TestRunIndexes: the launch check's run image indexes count toward the
// cap, and those unused for Unused (all, with All) are removed.
func TestRunIndexes(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	dir := filepath.Join(root, "launchcheck")
	os.MkdirAll(dir, 0o755)
	old, fresh := filepath.Join(dir, "run-index-old.json"), filepath.Join(dir, "run-index-new.json")
	os.WriteFile(old, make([]byte, 32<<10), 0o644)
	os.WriteFile(fresh, make([]byte, 32<<10), 0o644)
	long := time.Now().Add(-30 * 24 * time.Hour)
	os.Chtimes(old, long, long)
	r, err := Run(ctx, Options{CacheDir: root})
	if err != nil || r.Size < 64<<10 {
		t.Fatalf("the indexes are not counted: size %d, %v", r.Size, err)
	}
	if r, err = Run(ctx, Options{CacheDir: root, Unused: 7 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); err == nil {
		t.Error("an index unused for 30 days was kept")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a fresh index was removed: %v", err)
	}
	if len(r.Removed) != 1 || r.Removed[0].Kind != KindIndex {
		t.Errorf("removed %+v", r.Removed)
	}
	if _, err := Run(ctx, Options{CacheDir: root, All: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fresh); err == nil {
		t.Error("--all kept an index")
	}
}
