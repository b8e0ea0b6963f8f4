package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	units "github.com/docker/go-units"
	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/internal/prune"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/inspect"
)

const (
	// defaultCacheMax caps kiln's cache dir when KILN_CACHE_MAX is unset.
	defaultCacheMax = 20 << 30
	// rootFSUnused is how long an unpacked root file system may go unused
	// before a plain `kiln prune` removes it.
	rootFSUnused = 7 * 24 * time.Hour
	// storeGrace keeps store blobs a build made unreferenced for a while
	// after automatic pruning, for readers of the replaced image.
	storeGrace = time.Hour
)

func pruneCommand() *cli.Command {
	return &cli.Command{
		Name:  "prune",
		Usage: "free disk space: unused local-store blobs, work dirs of killed builds, and root file systems and layer caches, least recently used first",
		Description: "Removes the local store's blobs no image refers to, the work dirs killed builds left,\n" +
			"root file systems not used for a week, and layer caches and root file systems beyond\n" +
			"--max-size (default $KILN_CACHE_MAX, else 20GiB), least recently used first. With --all,\n" +
			"every layer cache and root file system goes. What a running build uses is never removed.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Usage: "remove every layer cache and root file system not in use"},
			&cli.StringFlag{Name: "max-size", Usage: "shrink layer caches and root file systems to this size, e.g. 5GiB (default: $KILN_CACHE_MAX, else 20GiB)"},
		},
		Action: func(c *cli.Context) error {
			max, err := cacheMax(c.String("max-size"))
			if err != nil {
				return usageError("prune: %v", err)
			}
			store, err := openStore()
			if err != nil {
				return err
			}
			dir, err := cacheDir()
			if err != nil {
				return err
			}
			r, err := prune.Run(c.Context, prune.Options{
				CacheDir: dir, Store: store, Max: max, All: c.Bool("all"), Unused: rootFSUnused,
			})
			printPrune(c.App.Writer, r, max, true)
			return err
		},
	}
}

// cacheMax is the cap of the cache dir: flag, else $KILN_CACHE_MAX, else
// 20GiB; "off" (or "none") means no cap.
func cacheMax(flag string) (int64, error) {
	s, what := flag, "--max-size"
	if s == "" {
		s, what = os.Getenv("KILN_CACHE_MAX"), "KILN_CACHE_MAX"
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return defaultCacheMax, nil
	case "off", "none":
		return 0, nil
	}
	n, err := units.RAMInBytes(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s=%q: want a size such as 20GiB or 500MB, or off", what, s)
	}
	if n == 0 {
		n = 1 // "0": keep nothing that is not in use
	}
	return n, nil
}

// autoPrune keeps the cache dir under KILN_CACHE_MAX after a build,
// whatever its outcome, and drops the local store's blobs that builds
// left unreferenced for a while. It never fails the build.
func autoPrune(ctx context.Context, cache string, out imageio.Location, log io.Writer) {
	if ctx.Err() != nil {
		return // interrupted: leave quickly
	}
	max, err := cacheMax("")
	if err != nil {
		fmt.Fprintf(log, "warning: %v; not pruning\n", err)
		return
	}
	// The store's scan reads every manifest: a quarter of the grace is
	// often enough, not after every build.
	o := prune.Options{CacheDir: cache, Max: max, StoreGrace: storeGrace, StoreEvery: storeGrace / 4, NoWait: true}
	if out.Kind == imageio.Store {
		if o.Store, err = openStore(); err != nil {
			o.Store = nil
		}
	}
	r, _ := prune.Run(ctx, o)
	printPrune(log, r, max, false)
}

// printPrune says what went; quiet leaves out a report of nothing.
func printPrune(w io.Writer, r prune.Report, max int64, verbose bool) {
	for _, x := range r.Removed {
		fmt.Fprintf(w, "pruned %s %s (%s)\n", x.Kind, shortPath(x.Path), inspect.HumanSize(x.Freed))
	}
	if r.StoreBlobs > 0 {
		fmt.Fprintf(w, "pruned %d unused blobs from the local store (%s)\n", r.StoreBlobs, inspect.HumanSize(r.StoreFreed))
	}
	for _, b := range r.Busy {
		fmt.Fprintf(w, "kept %s %s (%s): in use\n", b.Kind, shortPath(b.Path), inspect.HumanSize(b.Size))
	}
	for _, err := range r.Errors {
		fmt.Fprintf(w, "warning: prune: %v\n", err)
	}
	if !verbose && len(r.Removed) == 0 && r.StoreBlobs == 0 {
		return
	}
	cap := "no cap"
	if max > 0 {
		cap = "cap " + inspect.HumanSize(max)
	}
	fmt.Fprintf(w, "freed %s; layer caches and root file systems now take %s (%s)\n", inspect.HumanSize(r.Freed()), inspect.HumanSize(r.Size), cap)
}

// shortPath names a cache entry by its last two elements, a digest by
// its first 12 digits.
func shortPath(p string) string {
	base := filepath.Base(p)
	if len(base) == 64 {
		base = base[:12]
	}
	return filepath.Join(filepath.Base(filepath.Dir(p)), base)
}
