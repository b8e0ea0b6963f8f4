package defaultbuilder

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kiln-build/kiln/buildpacks"
	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// Buildpacks is where kiln's first-party buildpacks come from: a
// directory, or the gzip-compressed tar embedded by `make build`.
type Buildpacks struct {
	dir   string
	tarGz []byte
	// sum is the embedded archive's sha256 (hex) when the build that
	// embedded it computed it, so that every kiln run does not hash it again.
	sum string
}

// FindBuildpacks finds kiln's first-party buildpacks: the directory
// $KILN_BUILDPACKS, else embedded (the tree `make build` embeds in kiln,
// a gzip-compressed tar), else a "buildpacks" directory beside the kiln
// binary. A tree holds buildpack directories (each with buildpack.toml, at
// any depth) and may hold an order.toml at its top; without one, the order
// is kiln's default order (buildpacks.DefaultOrder). embeddedSum is the
// embedded archive's sha256 in hex when `make build` computed it (empty:
// kiln hashes the archive itself).
func FindBuildpacks(embedded []byte, embeddedSum string) (Buildpacks, error) {
	if d := os.Getenv("KILN_BUILDPACKS"); d != "" {
		return Buildpacks{dir: d}, nil
	}
	if len(embedded) > 0 {
		sum := strings.TrimSpace(embeddedSum)
		if len(sum) != 64 || strings.Trim(sum, "0123456789abcdef") != "" {
			sum = ""
		}
		return Buildpacks{tarGz: embedded, sum: sum}, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return Buildpacks{}, fmt.Errorf("finding kiln's buildpacks: %w", err)
	}
	dir := filepath.Join(filepath.Dir(exe), "buildpacks")
	if _, err := os.Stat(dir); err != nil {
		return Buildpacks{}, fmt.Errorf("this kiln has no embedded buildpacks and none at %s (build kiln with `make build`, or set KILN_BUILDPACKS to a directory of buildpacks): %w", dir, err)
	}
	return Buildpacks{dir: dir}, nil
}

// digest fingerprints the buildpacks without unpacking them: the embedded
// archive's bytes, or every name, mode, link target and file of the tree.
func (src Buildpacks) digest() (string, error) {
	if src.dir == "" && src.sum != "" {
		return "sha256:" + src.sum, nil
	}
	h := sha256.New()
	if src.dir == "" {
		h.Write(src.tarGz)
		return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
	}
	err := filepath.WalkDir(src.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src.dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%q %o\n", filepath.ToSlash(rel), info.Mode())
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "-> %q\n", target)
		case d.Type().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(h, f)
			f.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("reading kiln's buildpacks in %s: %w", src.dir, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// open reads the buildpacks and their order, unpacking an embedded tree
// under workDir first.
func (src Buildpacks) open(ctx context.Context, workDir string) (*buildpackSet, error) {
	set := &buildpackSet{}
	dir := src.dir
	if dir == "" {
		if err := os.MkdirAll(workDir, 0o755); err != nil {
			return nil, fmt.Errorf("creating %s: %w", workDir, err)
		}
		tmp, err := os.MkdirTemp(workDir, "buildpacks-")
		if err != nil {
			return nil, fmt.Errorf("unpacking kiln's buildpacks: %w", err)
		}
		set.tmp, dir = tmp, tmp
		zr, err := gzip.NewReader(bytes.NewReader(src.tarGz))
		if err != nil {
			set.Close()
			return nil, fmt.Errorf("unpacking kiln's embedded buildpacks: %w", err)
		}
		if err := archive.Extract(ctx, zr, tmp, archive.ExtractOptions{}); err != nil {
			set.Close()
			return nil, fmt.Errorf("unpacking kiln's embedded buildpacks: %w", err)
		}
	}
	if err := set.load(dir); err != nil {
		set.Close()
		return nil, err
	}
	return set, nil
}

// buildpackSet is the first-party buildpacks in a directory.
type buildpackSet struct {
	list  []*descriptor.Buildpack
	order descriptor.Order
	tmp   string // removed by Close, when the tree was unpacked
}

func (b *buildpackSet) Close() {
	if b.tmp != "" {
		os.RemoveAll(b.tmp)
	}
}

func (b *buildpackSet) refs() []string {
	out := make([]string, len(b.list))
	for i, bp := range b.list {
		out[i] = bp.Ref()
	}
	return out
}

// load reads the buildpacks and the order under dir.
func (b *buildpackSet) load(dir string) error {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() || p == dir {
			return nil
		}
		if _, err := os.Stat(filepath.Join(p, descriptor.BuildpackFile)); err != nil {
			return nil
		}
		bp, err := descriptor.ReadBuildpack(p)
		if err != nil {
			return err
		}
		b.list = append(b.list, bp)
		return filepath.SkipDir
	})
	if err != nil {
		return fmt.Errorf("reading kiln's buildpacks in %s: %w", dir, err)
	}
	if len(b.list) == 0 {
		return fmt.Errorf("reading kiln's buildpacks in %s: no buildpack.toml found", dir)
	}
	slices.SortFunc(b.list, func(x, y *descriptor.Buildpack) int { return strings.Compare(x.Buildpack.ID, y.Buildpack.ID) })
	orderPath := filepath.Join(dir, descriptor.OrderFile)
	if _, err := os.Stat(orderPath); err == nil {
		if b.order, err = descriptor.ReadOrder(orderPath); err != nil {
			return err
		}
	} else {
		b.order = defaultOrder(b.list)
	}
	if len(b.order) == 0 {
		return fmt.Errorf("reading kiln's buildpacks in %s: no group of the default order can be made from %s", dir, strings.Join(b.refs(), ", "))
	}
	return b.fillVersions(orderPath)
}

// fillVersions gives every order entry without a version the version of
// the buildpack with that id.
func (b *buildpackSet) fillVersions(orderPath string) error {
	for gi, g := range b.order {
		for ei, e := range g.Group {
			if e.Version != "" {
				continue
			}
			i := slices.IndexFunc(b.list, func(bp *descriptor.Buildpack) bool { return bp.Buildpack.ID == e.ID })
			if i < 0 {
				return fmt.Errorf("%s: [[order]] #%d names buildpack %s, which is not among kiln's buildpacks", orderPath, gi+1, e.ID)
			}
			b.order[gi].Group[ei].Version = b.list[i].Buildpack.Version
		}
	}
	return nil
}

// defaultOrder is kiln's default order (buildpacks.DefaultOrder) kept to
// the buildpacks at hand: a group missing a required buildpack is left
// out, as is a missing optional one.
func defaultOrder(bps []*descriptor.Buildpack) descriptor.Order {
	have := map[string]string{}
	for _, bp := range bps {
		have[bp.Buildpack.ID] = bp.Buildpack.Version
	}
	var order descriptor.Order
groups:
	for _, g := range buildpacks.DefaultOrder() {
		var dg descriptor.Group
		for _, e := range g {
			v, ok := have[e.ID]
			switch {
			case !ok && e.Optional:
				continue
			case !ok:
				continue groups
			}
			dg.Group = append(dg.Group, descriptor.GroupEntry{ID: e.ID, Version: v, Optional: e.Optional})
		}
		order = append(order, dg)
	}
	return order
}
