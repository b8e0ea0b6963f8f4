package fleet

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/static"

	"github.com/kiln-build/kiln/lifecycle/rebase"
)

// Outcome is what Rebase did with one image.
type Outcome string

// The outcomes, in the order a summary lists them.
const (
	Rebased     Outcome = "rebased"
	WouldRebase Outcome = "would rebase" // a dry run's outdated app
	Current     Outcome = "current"
	Refused     Outcome = "refused"
	Failed      Outcome = "failed"
	Skipped     Outcome = "skipped"
)

// Outcomes lists every outcome in summary order.
var Outcomes = []Outcome{Rebased, WouldRebase, Current, Refused, Failed, Skipped}

// RebaseOptions describe a fleet rebase.
type RebaseOptions struct {
	// RunImage names the new run image for every app; empty means each
	// app's recorded run image (or a mirror) at its digest now.
	RunImage string
	// Force rebases where lifecycle/rebase would refuse.
	Force bool
	// DryRun works out what would change and writes nothing.
	DryRun bool
}

// Result is one image's outcome.
type Result struct {
	Image
	Outcome Outcome `json:"outcome"`
	// Reason says why an image was refused, failed or skipped.
	Reason string `json:"reason,omitempty"`
	// NewDigest is the rebased image's digest (also for a dry run).
	NewDigest string `json:"newDigest,omitempty"`
	// Overridden lists the refusals Force overrode.
	Overridden []string `json:"overridden,omitempty"`
}

// Summary is a fleet rebase's results, in the order of the references.
type Summary struct {
	Results []*Result `json:"results"`
}

// Count is the number of results with outcome o.
func (s *Summary) Count(o Outcome) int {
	n := 0
	for _, r := range s.Results {
		if r.Outcome == o {
			n++
		}
	}
	return n
}

// Rebase rebases every outdated app image of refs onto its newest run
// image (or o.RunImage), at most the Fleet's concurrency at once.
// Each image gets one Result; Rebase itself fails only when ctx ends
// before every image was handled.
func (f *Fleet) Rebase(ctx context.Context, refs []string, o RebaseOptions) (*Summary, error) {
	s := &Summary{Results: make([]*Result, len(refs))}
	c, err := f.connect()
	if err != nil {
		return nil, err
	}
	f.each(ctx, len(refs), func(i int) {
		s.Results[i] = f.rebaseOne(ctx, c, f.inspect(ctx, c, refs[i], o.RunImage), o)
	})
	for i, r := range s.Results {
		if r == nil {
			s.Results[i] = &Result{Image: Image{Ref: refs[i]}, Outcome: Failed, Reason: fmt.Sprintf("not started: %v", ctx.Err())}
		}
	}
	if err := ctx.Err(); err != nil {
		return s, err
	}
	return s, nil
}

// rebaseOne decides what to do with one inspected image and does it.
func (f *Fleet) rebaseOne(ctx context.Context, c *conn, im *Image, o RebaseOptions) *Result {
	r := &Result{Image: *im}
	switch {
	case im.Error != "":
		return r.set(Failed, im.Error)
	case im.Skipped != "":
		return r.set(Skipped, im.Skipped)
	case im.RunImageError != "":
		return r.set(Failed, im.RunImageError)
	case !im.Outdated:
		return r.set(Current, "")
	case im.Index:
		return f.rebaseIndex(ctx, c, im, o, r)
	}
	run := im.run
	res, err := rebase.Rebase(ctx, im.app, rebase.Options{
		RunImage:          run.img,
		RunImageName:      run.name,
		RunImageReference: run.reference,
		Requested:         run.requested,
		Force:             o.Force,
	})
	var refused *rebase.RefusedError
	switch {
	case errors.As(err, &refused):
		return r.set(Refused, refused.Reason)
	case errors.Is(err, rebase.ErrNotAppImage):
		return r.set(Skipped, err.Error())
	case err != nil:
		return r.set(Failed, err.Error())
	}
	r.Overridden = res.Overridden
	d, err := res.Image.Digest()
	if err != nil {
		return r.set(Failed, fmt.Sprintf("computing the rebased image's digest: %v", err))
	}
	r.NewDigest = d.String()
	if o.DryRun {
		return r.set(WouldRebase, "")
	}
	if err := write(ctx, c, im, res.Image); err != nil {
		return r.set(Failed, err.Error())
	}
	return f.resign(ctx, im, r)
}

// resign has the Resigner, if any, sign what im was rebased to (an image
// or an image index), and sets r's outcome.
func (f *Fleet) resign(ctx context.Context, im *Image, r *Result) *Result {
	if f.resigner == nil {
		return r.set(Rebased, "")
	}
	from, err := name.NewDigest(refRepo(im.Ref)+"@"+im.Digest, name.WeakValidation)
	var to name.Digest
	if err == nil {
		to, err = name.NewDigest(refRepo(im.Ref)+"@"+r.NewDigest, name.WeakValidation)
	}
	if err == nil {
		err = f.resigner.Resign(ctx, from, to)
	}
	if err != nil {
		return r.set(Failed, fmt.Sprintf("rebased to %s, but signing it failed: %v", r.NewDigest, err))
	}
	return r.set(Rebased, "")
}

func (r *Result) set(o Outcome, reason string) *Result {
	r.Outcome, r.Reason = o, reason
	return r
}

// write pushes the rebased image under the app's tag: the blobs the app's
// manifest did not name first (the new run image's layers, mounted from
// its repository, and the config), the manifest last, so the tag never
// names a half-written image. The app's own blobs are in its repository
// already: its manifest names them. The tag is checked first to still
// name the digest that was read: a build that pushed meanwhile wins, and
// this image is reported failed instead of undoing it.
func write(ctx context.Context, c *conn, im *Image, img v1.Image) error {
	ref, err := unmoved(ctx, c, im)
	if err != nil {
		return err
	}
	blobs, err := newBlobs(im.app, img)
	if err != nil {
		return fmt.Errorf("rebasing %s: %w", im.Ref, err)
	}
	for _, b := range blobs {
		if err := c.push.Upload(ctx, ref.Context(), b); err != nil {
			return fmt.Errorf("pushing %s: %w", im.Ref, err)
		}
	}
	if err := c.push.Put(ctx, ref, img); err != nil {
		return fmt.Errorf("pushing %s: %w", im.Ref, err)
	}
	return nil
}

// unmoved parses im's tag and checks that it still names the digest
// that was read: a build that pushed meanwhile wins.
func unmoved(ctx context.Context, c *conn, im *Image) (name.Reference, error) {
	ref, err := name.ParseReference(im.Ref, name.WeakValidation)
	if err != nil {
		return nil, err
	}
	now, err := c.pull.Head(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("checking %s before moving it: %w", im.Ref, err)
	}
	if now.Digest.String() != im.Digest {
		return nil, fmt.Errorf("%s moved to %s while the fleet was being rebased; left as it is (run again to rebase it)", im.Ref, now.Digest)
	}
	return ref, nil
}

// newBlobs are the layers and config of img that old's manifest does not
// name, the config last.
func newBlobs(old, img v1.Image) ([]v1.Layer, error) {
	om, err := old.Manifest()
	if err != nil {
		return nil, err
	}
	have := map[v1.Hash]bool{om.Config.Digest: true}
	for _, l := range om.Layers {
		have[l.Digest] = true
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	var out []v1.Layer
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return nil, err
		}
		if !have[d] {
			have[d] = true
			out = append(out, l)
		}
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	if !have[m.Config.Digest] {
		raw, err := img.RawConfigFile()
		if err != nil {
			return nil, err
		}
		out = append(out, static.NewLayer(raw, m.Config.MediaType))
	}
	return out, nil
}

// refRepo is the repository part of a reference.
func refRepo(ref string) string {
	r, err := name.ParseReference(ref, name.WeakValidation)
	if err != nil {
		return ref
	}
	return r.Context().Name()
}
