package rebase

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// RunOptions describe one `kiln rebase`.
type RunOptions struct {
	// Image is the app image name.
	Image string
	// Publish reads the app image from its registry and pushes the result
	// there; otherwise both happen in the local store.
	Publish bool
	// Output, when set, receives the result instead of where the app
	// image came from.
	Output *imageio.Location
	// RunImage names the new run image (a reference, oci:DIR or
	// docker-archive:FILE); empty means the recorded run image's current
	// digest, or a mirror's.
	RunImage string
	// Force allows unsafe rebases.
	Force bool
	// Log gets progress and warnings.
	Log io.Writer
}

// RunResult is a finished rebase.
type RunResult struct {
	Result
	// Digest is the rebased app image's digest.
	Digest v1.Hash
	// Output is where it was written.
	Output imageio.Location
	// RunImageName is the name the new run image was read by.
	RunImageName string
	// OldRunDigest is the digest (or image ID) in the old runImage.reference.
	OldRunDigest string
	// NewRunDigest is the new run image's manifest digest.
	NewRunDigest v1.Hash
}

// Run reads the app image, resolves and reads the new run image, rebases
// and writes the result. Errors carry exit codes of the rebase band.
func Run(ctx context.Context, iio *imageio.IO, o RunOptions) (*RunResult, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	appName, err := imageio.NormalizeName(o.Image)
	if err != nil {
		return nil, failure.New("rebase", failure.InvalidInput, err)
	}
	src := imageio.Location{Kind: imageio.Store, Name: appName}
	if o.Publish {
		src.Kind = imageio.Registry
	}
	dst := src
	if o.Output != nil {
		dst = *o.Output
		if dst.Name == "" {
			dst.Name = appName
		}
	}
	if err := iio.CheckWritable(ctx, dst); err != nil {
		return nil, failure.New("rebase", failure.RebaseError, err)
	}

	idx, app, err := iio.OpenIndex(ctx, src, false)
	if err == nil && idx != nil {
		return runIndex(ctx, iio, o, appName, idx, dst)
	}
	if err != nil {
		if !o.Publish && errors.Is(err, imageio.ErrNotFound) {
			err = fmt.Errorf("%w (to rebase an image in its registry, add --publish)", err)
		}
		return nil, failure.New("rebase", failure.RebaseError, err)
	}
	appCfg, err := app.ConfigFile()
	if err != nil {
		return nil, failure.New("rebase", failure.RebaseError, fmt.Errorf("reading %s config: %w", appName, err))
	}
	old, err := AppRunImage(appCfg)
	if err != nil {
		return nil, failure.New("rebase", failure.RebaseNotAppImage, fmt.Errorf("%s: %w", appName, err))
	}

	run, err := openRunImage(ctx, iio, o, appName, old, nil)
	if err != nil {
		return nil, failure.New("rebase", failure.RebaseRunImage, err)
	}
	newDigest, err := run.img.Digest()
	if err != nil {
		return nil, failure.New("rebase", failure.RebaseRunImage, fmt.Errorf("reading run image %s digest: %w", run.name, err))
	}
	fmt.Fprintf(o.Log, "Run image %s (%s)\n", run.name, newDigest)

	res, err := Rebase(ctx, app, Options{
		RunImage:          run.img,
		RunImageName:      run.name,
		RunImageReference: run.reference,
		Requested:         o.RunImage != "",
		Force:             o.Force,
	})
	var refused *RefusedError
	switch {
	case errors.As(err, &refused):
		return nil, failure.New("rebase", failure.RebaseRefused, err)
	case errors.Is(err, ErrNotAppImage):
		return nil, failure.New("rebase", failure.RebaseNotAppImage, fmt.Errorf("%s: %w", appName, err))
	case err != nil:
		return nil, failure.New("rebase", failure.RebaseError, err)
	}
	for _, w := range res.Overridden {
		fmt.Fprintf(o.Log, "warning: --force: %s\n", w)
	}
	if err := iio.Write(ctx, dst, res.Image); err != nil {
		return nil, failure.New("rebase", failure.RebaseError, err)
	}
	digest, err := res.Image.Digest()
	if err != nil {
		return nil, failure.New("rebase", failure.RebaseError, err)
	}
	return &RunResult{
		Result:       *res,
		Digest:       digest,
		Output:       dst,
		RunImageName: run.name,
		OldRunDigest: referenceDigest(old.Reference),
		NewRunDigest: newDigest,
	}, nil
}

type runImage struct {
	img       v1.Image
	name      string
	reference string
}

// openRunImage reads the run image the user named or, failing that, the
// recorded one or a mirror, per the spec's run image resolution.
func openRunImage(ctx context.Context, iio *imageio.IO, o RunOptions, appName string, old labels.RunImage, plat *v1.Platform) (*runImage, error) {
	if o.RunImage != "" {
		return openOne(ctx, iio, o.RunImage, o.Publish, true, plat)
	}
	cands := Candidates(old, appName)
	if len(cands) == 0 {
		return nil, fmt.Errorf("%s records no run image name: name one with --run-image", appName)
	}
	var errs []error
	for _, c := range cands {
		r, err := openRecorded(ctx, iio, c, o.Publish, plat)
		if err == nil {
			return r, nil
		}
		fmt.Fprintf(o.Log, "Run image %s is not readable, trying the next: %v\n", c, err)
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("none of the run images recorded in %s could be read (tried %s): name the new run image with --run-image: %w", appName, strings.Join(cands, ", "), errors.Join(errs...))
}

// openRecorded reads a run image the app records. One whose name names
// no registry ("kiln/debian-bookworm-run:latest") is a name in kiln's
// local store: it is read from there only, never from Docker Hub, and
// not at all for an app in a registry, which must record a run image
// others can pull.
func openRecorded(ctx context.Context, iio *imageio.IO, ref string, publish bool, plat *v1.Platform) (*runImage, error) {
	if imageio.NamesRegistry(ref) || strings.HasPrefix(ref, "oci:") || strings.HasPrefix(ref, "docker-archive:") {
		return openOne(ctx, iio, ref, publish, true, plat)
	}
	if publish {
		return nil, fmt.Errorf("run image %s names no registry: it is a name in a local store, not one a registry image can be rebased onto", ref)
	}
	r, err := openOne(ctx, iio, ref, false, false, plat)
	if err != nil {
		return nil, fmt.Errorf("run image %s names no registry and is not in the local store: %w", ref, err)
	}
	return r, nil
}

// openOne reads one run image: with publish from its registry only (its
// layers must be there to be mounted), else from the local store first
// and, when remote is true, then from its registry. With plat, an image
// index answers with its image for that platform.
func openOne(ctx context.Context, iio *imageio.IO, ref string, publish, remote bool, plat *v1.Platform) (*runImage, error) {
	loc, err := imageio.ParseSource(ref)
	if err != nil {
		return nil, fmt.Errorf("run image: %w", err)
	}
	if publish && loc.Kind == imageio.Store {
		loc.Kind = imageio.Registry
	}
	var img v1.Image
	if plat != nil {
		img, err = iio.OpenPlatform(ctx, loc, remote, *plat)
	} else {
		img, err = iio.Open(ctx, loc, remote)
	}
	if err != nil {
		return nil, fmt.Errorf("run image: %w", err)
	}
	r := &runImage{img: img, name: ref}
	if loc.Kind == imageio.Store || loc.Kind == imageio.Registry {
		r.name = loc.Name
		d, err := img.Digest()
		if err != nil {
			return nil, fmt.Errorf("reading run image %s digest: %w", ref, err)
		}
		nr, err := name.ParseReference(loc.Name, name.WeakValidation)
		if err != nil {
			return nil, fmt.Errorf("run image %q: %w", ref, err)
		}
		r.reference = nr.Context().Digest(d.String()).String()
		return r, nil
	}
	id, err := img.ConfigName()
	if err != nil {
		return nil, fmt.Errorf("reading run image %s id: %w", ref, err)
	}
	r.reference = id.String()
	return r, nil
}

// Candidates lists the run images to try for an app, per the spec's run
// image resolution: the recorded image and its mirrors on the app's own
// registry first, then the others, each group in recorded order.
func Candidates(ri labels.RunImage, appName string) []string {
	appReg := ""
	if r, err := name.ParseReference(appName, name.WeakValidation); err == nil {
		appReg = r.Context().RegistryStr()
	}
	var same, other []string
	seen := map[string]bool{}
	for _, n := range append([]string{ri.Image}, ri.Mirrors...) {
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		r, err := name.ParseReference(n, name.WeakValidation)
		if err == nil && r.Context().RegistryStr() == appReg {
			same = append(same, n)
		} else {
			other = append(other, n)
		}
	}
	return append(same, other...)
}

// referenceDigest is the digest part of a digest reference, or the
// reference itself (an image ID).
func referenceDigest(ref string) string {
	if _, d, ok := strings.Cut(ref, "@"); ok {
		return d
	}
	return ref
}
