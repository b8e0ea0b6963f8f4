package create

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/internal/extract"
	"github.com/kiln-build/kiln/lifecycle/builder"
	"github.com/kiln-build/kiln/lifecycle/buildpackage"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/imageio"
)

// FromBuilder in Options.Buildpacks stands for the builder's order: the
// buildpacks before it are added at the start of every group, those after
// it at the end (pack's --buildpack from=builder).
const FromBuilder = "from=builder"

// Bounds of a buildpack unpacked from a .cnb file or an image.
const (
	maxBuildpackBytes   = 4 << 30
	maxBuildpackEntries = 1 << 20
)

// effectiveOrder is the builder's order, or one group of the buildpacks
// the user named, with the pre and post buildpacks and then the
// builder's system buildpacks around every group. Buildpacks that are not
// in the builder (directories, .cnb files, buildpackage images) are put
// into extraDir, which is searched before the builder's /cnb/buildpacks.
// Layer files of packaged buildpacks are written under tmp.
func effectiveOrder(ctx context.Context, b *builder.Builder, o Options, extraDir, tmp string, images buildpackage.ImageSource) (descriptor.Order, bool, error) {
	r := &bpResolver{lookup: descriptor.NewLookup(extraDir, b.BuildpacksDir()), extraDir: extraDir, tmp: tmp, images: images}
	for _, bp := range b.Metadata.Buildpacks {
		r.available = append(r.available, bp.ID+"@"+bp.Version)
	}
	pre, err := r.entries(ctx, "--pre-buildpack", o.PreBuildpacks)
	if err != nil {
		return nil, false, err
	}
	post, err := r.entries(ctx, "--post-buildpack", o.PostBuildpacks)
	if err != nil {
		return nil, false, err
	}
	order := b.Order
	if len(o.Buildpacks) > 0 {
		before, after, fromBuilder, err := splitFromBuilder(o.Buildpacks)
		if err != nil {
			return nil, false, err
		}
		g, err := r.entries(ctx, "--buildpack", before)
		if err != nil {
			return nil, false, err
		}
		if !fromBuilder {
			order = descriptor.Order{{Group: g}}
		} else {
			a, err := r.entries(ctx, "--buildpack", after)
			if err != nil {
				return nil, false, err
			}
			pre, post = append(append([]descriptor.GroupEntry{}, pre...), g...), append(a, post...)
		}
	}
	if len(pre)+len(post) > 0 {
		wrapped := make(descriptor.Order, len(order))
		for i, g := range order {
			g.Group = append(append(append([]descriptor.GroupEntry{}, pre...), g.Group...), post...)
			wrapped[i] = g
		}
		order = wrapped
	}
	return b.System.Wrap(order), r.extra, nil
}

// splitFromBuilder splits refs around from=builder (at most once).
func splitFromBuilder(refs []string) (before, after []string, found bool, err error) {
	for i, r := range refs {
		if r != FromBuilder {
			continue
		}
		if found {
			return nil, nil, false, errors.New("--buildpack from=builder is given twice")
		}
		found = true
		before, after = refs[:i], refs[i+1:]
	}
	if !found {
		before = refs
	}
	return before, after, found, nil
}

// bpResolver turns the buildpacks a user names into group entries.
type bpResolver struct {
	lookup   *descriptor.Lookup
	extraDir string
	tmp      string
	images   buildpackage.ImageSource
	extra    bool // something was put into extraDir
	// available are the builder's buildpacks (id@version), for messages.
	available []string
}

// entries resolves each ref: a buildpack directory; a .cnb file, .tgz,
// docker://REF, oci:DIR or docker-archive:FILE (a buildpackage);
// urn:cnb:builder:ID[@VERSION]; or ID[@VERSION] in the builder.
func (r *bpResolver) entries(ctx context.Context, flag string, refs []string) ([]descriptor.GroupEntry, error) {
	var out []descriptor.GroupEntry
	for _, ref := range refs {
		e, err := r.entry(ctx, ref)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", flag, ref, err)
		}
		out = append(out, e)
	}
	return out, nil
}

func (r *bpResolver) entry(ctx context.Context, ref string) (descriptor.GroupEntry, error) {
	if ref == FromBuilder {
		return descriptor.GroupEntry{}, errors.New("from=builder is only taken by --buildpack")
	}
	if fi, err := os.Stat(ref); err == nil && fi.IsDir() {
		r.extra = true
		return copyBuildpack(ctx, ref, r.extraDir)
	}
	if id, ok := strings.CutPrefix(ref, "urn:cnb:builder:"); ok {
		return r.find(id)
	}
	if isPackageRef(ref) {
		return r.unpackPackage(ctx, ref)
	}
	e, err := r.find(ref)
	if err != nil {
		return e, fmt.Errorf("not a directory, .cnb file or image, and %w", err)
	}
	return e, nil
}

// isPackageRef reports whether ref names a buildpackage (or an archive
// of a buildpack directory) rather than a buildpack id.
func isPackageRef(ref string) bool {
	for _, p := range []string{"docker://", "oci:", "docker-archive:", "file://"} {
		if strings.HasPrefix(ref, p) {
			return true
		}
	}
	if fi, err := os.Stat(ref); err == nil && fi.Mode().IsRegular() {
		return true
	}
	for _, ext := range []string{".cnb", ".tgz", ".tar", ".tar.gz"} {
		if strings.HasSuffix(ref, ext) {
			return true
		}
	}
	return false
}

func (r *bpResolver) find(ref string) (descriptor.GroupEntry, error) {
	id, version, _ := strings.Cut(ref, "@")
	bp, err := r.lookup.Find(id, version)
	if err != nil {
		if len(r.available) > 0 {
			return descriptor.GroupEntry{}, fmt.Errorf("the builder has no such buildpack; it has %s", strings.Join(r.available, ", "))
		}
		return descriptor.GroupEntry{}, fmt.Errorf("the builder has no such buildpack: %w", err)
	}
	return descriptor.GroupEntry{ID: bp.Buildpack.ID, Version: bp.Buildpack.Version}, nil
}

// unpackPackage puts every buildpack a buildpackage brings into
// extraDir and returns its entry buildpack.
func (r *bpResolver) unpackPackage(ctx context.Context, ref string) (descriptor.GroupEntry, error) {
	res := &buildpackage.Resolver{Images: r.images, Layers: buildpackage.LayerOptions{TempDir: r.tmp}}
	cwd, err := os.Getwd()
	if err != nil {
		return descriptor.GroupEntry{}, err
	}
	src, err := res.Resolve(ctx, ref, cwd)
	if err != nil {
		return descriptor.GroupEntry{}, err
	}
	for _, b := range src.Buildpacks {
		if err := unpackBuildpack(ctx, b, r.extraDir); err != nil {
			return descriptor.GroupEntry{}, err
		}
	}
	r.extra = true
	return descriptor.GroupEntry{ID: src.Entry.ID(), Version: src.Entry.Version()}, nil
}

// unpackBuildpack extracts b's layer (cnb/buildpacks/<id>/<version>/...)
// into extraDir as <id>/<version>/..., refusing anything else the layer
// holds and bounding what it writes.
func unpackBuildpack(ctx context.Context, b buildpackage.Buildpack, extraDir string) error {
	prefix := "cnb/buildpacks/" + descriptor.EscapeID(b.ID()) + "/" + b.Version()
	if _, err := os.Stat(filepath.Join(extraDir, descriptor.EscapeID(b.ID()), b.Version())); err == nil {
		return nil // brought by another package too
	}
	rc, err := b.Layer.Uncompressed()
	if err != nil {
		return fmt.Errorf("reading buildpack %s from %s: %w", b.Ref(), b.Source, err)
	}
	defer rc.Close()
	err = extract.Extract(ctx, rc, extraDir, extract.Options{
		MaxBytes: maxBuildpackBytes, MaxEntries: maxBuildpackEntries,
		Rename: func(name string) (string, error) {
			switch {
			case name == prefix || strings.HasPrefix(name, prefix+"/"):
				return strings.TrimPrefix(name, "cnb/buildpacks/"), nil
			case name == "cnb" || name == "cnb/buildpacks" || name == "cnb/buildpacks/"+descriptor.EscapeID(b.ID()):
				return "", nil
			}
			return "", fmt.Errorf("entry %s is outside %s", name, prefix)
		},
	})
	if err != nil {
		return fmt.Errorf("unpacking buildpack %s from %s: %w", b.Ref(), b.Source, err)
	}
	if _, err := descriptor.ReadBuildpack(filepath.Join(extraDir, descriptor.EscapeID(b.ID()), b.Version())); err != nil {
		return fmt.Errorf("buildpack %s from %s: %w", b.Ref(), b.Source, err)
	}
	return nil
}

// buildpackImages opens the images --buildpack names, as the builder and
// run images are opened.
func (j *job) buildpackImages() buildpackage.ImageSource {
	return buildpackage.ImageSourceFunc(func(ctx context.Context, ref string) (v1.Image, error) {
		loc, err := imageio.ParseSource(ref)
		if err != nil {
			return nil, err
		}
		return j.images.Open(ctx, loc, true)
	})
}

// copyBuildpack copies the buildpack directory dir into extraDir, laid out
// as a buildpacks dir (<escaped id>/<version>).
func copyBuildpack(ctx context.Context, dir, extraDir string) (descriptor.GroupEntry, error) {
	bp, err := descriptor.ReadBuildpack(dir)
	if err != nil {
		return descriptor.GroupEntry{}, err
	}
	dst := filepath.Join(extraDir, descriptor.EscapeID(bp.Buildpack.ID), bp.Buildpack.Version)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return descriptor.GroupEntry{}, err
	}
	if err := archive.CopyDir(ctx, dir, dst, archive.CopyOptions{}); err != nil {
		return descriptor.GroupEntry{}, err
	}
	return descriptor.GroupEntry{ID: bp.Buildpack.ID, Version: bp.Buildpack.Version}, nil
}
