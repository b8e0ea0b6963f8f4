package rebase

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/lifecycle/labels"
)

// Options describe one rebase.
type Options struct {
	// RunImage is the new run image.
	RunImage v1.Image
	// RunImageName is the name RunImage was read by: a tag or digest
	// reference, or another source such as oci:DIR. It is checked against
	// the recorded run image and its mirrors when Requested, and becomes
	// runImage.image when a forced rebase leaves that lineage.
	RunImageName string
	// RunImageReference uniquely names RunImage in the lifecycle label.
	// Empty means RunImageName's repository at RunImage's digest when
	// RunImageName is an image reference, else RunImage's image ID.
	RunImageReference string
	// Requested says the user named the run image (rather than it being
	// resolved from the app's label): it must then be the recorded run
	// image or one of its mirrors unless Force is set.
	Requested bool
	// Force turns every refusal into an entry of Result.Overridden.
	Force bool
}

// Result is a rebased image and what changed.
type Result struct {
	// Image is the rebased app image.
	Image v1.Image
	// Old and New are the lifecycle label's runImage before and after.
	Old, New labels.RunImage
	// Overridden lists the refusals Force overrode, one sentence each.
	Overridden []string
}

// RefusedError is an unsafe rebase that was refused because Force was
// not set.
type RefusedError struct {
	// Reason says what differs.
	Reason string
}

func (e *RefusedError) Error() string {
	return "refusing to rebase: " + e.Reason + " (--force overrides this check)"
}

// ErrNotAppImage marks an image that lacks what a rebase needs: the
// lifecycle label or its run image top layer.
var ErrNotAppImage = errors.New("not a CNB app image")

// AppRunImage returns the runImage record of an app image's lifecycle
// label, falling back to the deprecated stack.runImage for the image name
// and mirrors.
func AppRunImage(cfg *v1.ConfigFile) (labels.RunImage, error) {
	var md labels.Lifecycle
	ok, err := labels.Decode(cfg, labels.LifecycleMetadata, &md)
	if err != nil {
		return labels.RunImage{}, fmt.Errorf("%w: %w", ErrNotAppImage, err)
	}
	if !ok {
		return labels.RunImage{}, fmt.Errorf("%w: it has no %s label", ErrNotAppImage, labels.LifecycleMetadata)
	}
	ri := md.RunImage
	if ri.Image == "" && md.Stack != nil {
		ri.Image = md.Stack.RunImage.Image
		ri.Mirrors = md.Stack.RunImage.Mirrors
	}
	if ri.TopLayer == "" {
		return labels.RunImage{}, fmt.Errorf("%w: its %s label records no runImage.topLayer", ErrNotAppImage, labels.LifecycleMetadata)
	}
	return ri, nil
}

// Rebase puts the layers of app above its run image onto o.RunImage. No
// layer is read: only manifests and configs.
func Rebase(ctx context.Context, app v1.Image, o Options) (*Result, error) {
	if o.RunImage == nil {
		return nil, errors.New("no new run image")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	appCfg, err := app.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading app image config: %w", err)
	}
	old, err := AppRunImage(appCfg)
	if err != nil {
		return nil, err
	}
	runCfg, err := o.RunImage.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading run image %s config: %w", o.RunImageName, err)
	}

	// Safety checks, in the order the spec lists them.
	res := &Result{Old: old}
	refuse := func(reason string) error {
		if o.Force {
			res.Overridden = append(res.Overridden, reason)
			return nil
		}
		return &RefusedError{Reason: reason}
	}
	if v := appCfg.Config.Labels[labels.Rebasable]; strings.EqualFold(strings.TrimSpace(v), "false") {
		if err := refuse(fmt.Sprintf("the app image is labelled %s=%s", labels.Rebasable, v)); err != nil {
			return nil, err
		}
	}
	listed := true
	if o.Requested {
		listed = InLineage(o.RunImageName, old)
		if !listed {
			if err := refuse(notListed(o.RunImageName, old)); err != nil {
				return nil, err
			}
		}
	}
	if d := targetDiff(appCfg, runCfg); d != "" {
		if err := refuse("the new run image's target differs from the old one's: " + d); err != nil {
			return nil, err
		}
	}

	// Layers: the app's above the old run image's top layer.
	appLayers, err := app.Layers()
	if err != nil {
		return nil, fmt.Errorf("reading app image layers: %w", err)
	}
	diffIDs := appCfg.RootFS.DiffIDs
	if len(diffIDs) != len(appLayers) {
		return nil, fmt.Errorf("app image config lists %d layer diffIDs for %d layers", len(diffIDs), len(appLayers))
	}
	top, err := topIndex(appCfg, old.TopLayer)
	if err != nil {
		return nil, err
	}
	runLayers, err := o.RunImage.Layers()
	if err != nil {
		return nil, fmt.Errorf("reading run image %s layers: %w", o.RunImageName, err)
	}
	if len(runLayers) == 0 {
		return nil, fmt.Errorf("run image %s has no layers", o.RunImageName)
	}
	if len(runCfg.RootFS.DiffIDs) != len(runLayers) {
		return nil, fmt.Errorf("run image %s config lists %d layer diffIDs for %d layers", o.RunImageName, len(runCfg.RootFS.DiffIDs), len(runLayers))
	}
	newTop := runCfg.RootFS.DiffIDs[len(runLayers)-1]

	manifestType, err := o.RunImage.MediaType()
	if err != nil {
		return nil, fmt.Errorf("reading run image %s media type: %w", o.RunImageName, err)
	}
	var adds []mutate.Addendum
	for _, l := range appLayers[top+1:] {
		mt, err := l.MediaType()
		if err != nil {
			return nil, fmt.Errorf("reading app layer media type: %w", err)
		}
		add := mutate.Addendum{Layer: l}
		if want := layerTypeFor(manifestType, mt); want != mt {
			add.Layer, add.MediaType = retype(l, want), want
		}
		adds = append(adds, add)
	}
	img := o.RunImage
	if len(adds) > 0 {
		if img, err = mutate.Append(img, adds...); err != nil {
			return nil, fmt.Errorf("adding app layers to run image %s: %w", o.RunImageName, err)
		}
	}

	// The lifecycle label.
	res.New = old
	res.New.TopLayer = newTop.String()
	if res.New.Reference, err = reference(o); err != nil {
		return nil, err
	}
	if !listed {
		res.New.Image = o.RunImageName
		res.New.Mirrors = nil
	}
	cfg := appCfg.DeepCopy()
	if cfg.Config.Labels == nil {
		cfg.Config.Labels = map[string]string{}
	}
	lc, err := UpdateLifecycleLabel(appCfg.Config.Labels[labels.LifecycleMetadata], res.New)
	if err != nil {
		return nil, err
	}
	cfg.Config.Labels[labels.LifecycleMetadata] = lc

	// What came from the base.
	baseLabels(cfg.Config.Labels, runCfg.Config.Labels)
	cfg.OS = runCfg.OS
	cfg.Architecture = runCfg.Architecture
	cfg.Variant = runCfg.Variant
	cfg.OSVersion = runCfg.OSVersion
	cfg.Config.Env = MergeEnv(appCfg.Config.Env, runCfg.Config.Env)
	cfg.RootFS.Type = "layers"
	cfg.RootFS.DiffIDs = append(append([]v1.Hash(nil), runCfg.RootFS.DiffIDs...), diffIDs[top+1:]...)
	cfg.History = rebaseHistory(appCfg.History, top+1, len(appLayers), runCfg.History, len(runLayers), appCfg.Created)

	if res.Image, err = mutate.ConfigFile(img, cfg); err != nil {
		return nil, fmt.Errorf("writing rebased image config: %w", err)
	}
	return res, nil
}

// InLineage reports whether ref names the same repository as the recorded
// run image or one of its mirrors (tags and digests aside).
func InLineage(ref string, ri labels.RunImage) bool {
	want, ok := repository(ref)
	if !ok {
		return false
	}
	for _, n := range append([]string{ri.Image}, ri.Mirrors...) {
		if r, ok := repository(n); ok && r == want {
			return true
		}
	}
	return false
}

func repository(ref string) (string, bool) {
	if ref == "" || strings.HasPrefix(ref, "oci:") || strings.HasPrefix(ref, "docker-archive:") {
		return "", false
	}
	r, err := name.ParseReference(ref, name.WeakValidation)
	if err != nil {
		return "", false
	}
	return r.Context().Name(), true
}

func notListed(ref string, ri labels.RunImage) string {
	if ri.Image == "" {
		return fmt.Sprintf("run image %s was named, but the app image records no run image to check it against", ref)
	}
	mirrors := "it has no mirrors"
	if len(ri.Mirrors) > 0 {
		mirrors = "its mirrors are " + strings.Join(ri.Mirrors, ", ")
	}
	return fmt.Sprintf("run image %s is neither the app's recorded run image %s nor one of its mirrors (%s)", ref, ri.Image, mirrors)
}

// targetDiff describes how the new run image's target data differs from
// the app's (which it took from the old run image); "" when they match.
// os and architecture are always compared; variant and the distro labels
// when both images specify them.
func targetDiff(app, run *v1.ConfigFile) string {
	var diffs []string
	cmp := func(what, old, new string, always bool) {
		if old == new || (!always && (old == "" || new == "")) {
			return
		}
		diffs = append(diffs, fmt.Sprintf("%s %q, was %q", what, new, old))
	}
	cmp("os", osOf(app), osOf(run), true)
	cmp("architecture", app.Architecture, run.Architecture, true)
	cmp("variant", app.Variant, run.Variant, false)
	cmp(labels.BaseDistroName, app.Config.Labels[labels.BaseDistroName], run.Config.Labels[labels.BaseDistroName], false)
	cmp(labels.BaseDistroVersion, app.Config.Labels[labels.BaseDistroVersion], run.Config.Labels[labels.BaseDistroVersion], false)
	return strings.Join(diffs, "; ")
}

func osOf(cfg *v1.ConfigFile) string {
	if cfg.OS == "" {
		return "linux"
	}
	return cfg.OS
}

// topIndex finds the app layer whose diffID is the old run image's top
// layer. The exporter puts one layer per entry of the lifecycle label on
// top of the run image, so that is where the top layer is looked for
// first. Should it not be there (another tool made the image), the last
// occurrence below the layers the label names is taken: a diffID can
// occur more than once (empty layers do).
func topIndex(cfg *v1.ConfigFile, topLayer string) (int, error) {
	top, err := v1.NewHash(topLayer)
	if err != nil {
		return 0, fmt.Errorf("%w: runImage.topLayer %q: %w", ErrNotAppImage, topLayer, err)
	}
	ids := cfg.RootFS.DiffIDs
	own := appDiffIDs(cfg)
	if i := len(ids) - len(own) - 1; len(own) > 0 && i >= 0 && ids[i] == top {
		return i, nil
	}
	named := map[v1.Hash]bool{}
	for _, d := range own {
		named[d] = true
	}
	ceiling := len(ids)
	for ceiling > 0 && named[ids[ceiling-1]] {
		ceiling--
	}
	for i := ceiling - 1; i >= 0; i-- {
		if ids[i] == top {
			return i, nil
		}
	}
	for i, d := range ids {
		if d == top {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%w: the run image top layer %s recorded in %s is not among its layers", ErrNotAppImage, topLayer, labels.LifecycleMetadata)
}

// appDiffIDs are the diffIDs of the layers the lifecycle label names as
// the app's own (launch, SBOM, app, launcher and config layers), one per
// entry.
func appDiffIDs(cfg *v1.ConfigFile) []v1.Hash {
	var md labels.Lifecycle
	if ok, err := labels.Decode(cfg, labels.LifecycleMetadata, &md); !ok || err != nil {
		return nil
	}
	var out []v1.Hash
	add := func(s string) {
		if h, err := v1.NewHash(s); err == nil {
			out = append(out, h)
		}
	}
	for _, bp := range md.Buildpacks {
		for _, l := range bp.Layers {
			add(l.SHA)
		}
	}
	if md.SBOM != nil {
		add(md.SBOM.SHA)
	}
	for _, a := range md.App {
		add(a.SHA)
	}
	add(md.Launcher.SHA)
	add(md.Config.SHA)
	return out
}

// reference uniquely names the new run image.
func reference(o Options) (string, error) {
	if o.RunImageReference != "" {
		return o.RunImageReference, nil
	}
	if r, ok := repository(o.RunImageName); ok {
		d, err := o.RunImage.Digest()
		if err != nil {
			return "", fmt.Errorf("reading run image %s digest: %w", o.RunImageName, err)
		}
		return r + "@" + d.String(), nil
	}
	id, err := o.RunImage.ConfigName()
	if err != nil {
		return "", fmt.Errorf("reading run image %s id: %w", o.RunImageName, err)
	}
	return id.String(), nil
}

// layerTypeFor is the media type an app layer gets in a manifest of type
// manifestType: gzip and plain tar layers switch between their Docker and
// OCI names (the bytes, and so the digest, stay the same), as a fresh
// export onto that run image would name them.
func layerTypeFor(manifestType, layer types.MediaType) types.MediaType {
	docker := manifestType == types.DockerManifestSchema2
	switch {
	case layer == types.DockerLayer && !docker:
		return types.OCILayer
	case layer == types.OCILayer && docker:
		return types.DockerLayer
	case layer == types.DockerUncompressedLayer && !docker:
		return types.OCIUncompressedLayer
	case layer == types.OCIUncompressedLayer && docker:
		return types.DockerUncompressedLayer
	}
	return layer
}

// typedLayer is a layer under another media type name.
type typedLayer struct {
	v1.Layer
	mediaType types.MediaType
}

func (l typedLayer) MediaType() (types.MediaType, error) { return l.mediaType, nil }

// retype renames l's media type. A layer read from a registry stays
// mountable from its repository, so that pushing it costs no upload.
func retype(l v1.Layer, mt types.MediaType) v1.Layer {
	if ml, ok := l.(*remote.MountableLayer); ok {
		return &remote.MountableLayer{Layer: typedLayer{ml.Layer, mt}, Reference: ml.Reference}
	}
	return typedLayer{l, mt}
}
