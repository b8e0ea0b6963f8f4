package create

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/lifecycle/builder"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// analyze checks that the destination takes the image, then finds the
// app's previous image there for layer reuse. No previous image is a cold
// build; any other error reading it (credentials, network, a broken
// image) fails the build: building cold would hide it and cost the cache.
func (j *job) analyze(ctx context.Context) error {
	if err := j.images.CheckWritable(ctx, j.o.Output); err != nil {
		return failure.New("analyze", failure.AnalyzeError, err)
	}
	if !byName(j.o.Output) {
		return nil
	}
	r := j.report("analyze")
	at := j.o.Output
	if j.o.PreviousImage != "" {
		at.Name = j.o.PreviousImage
	}
	prev, err := j.images.Open(ctx, at, false)
	if imageio.IsNotFound(err) {
		if j.o.PreviousImage != "" {
			r.warn("the previous image %s does not exist: building without it", at)
		}
		return nil
	}
	if err != nil {
		return failure.New("analyze", failure.AnalyzeError,
			fmt.Errorf("reading the previous image %s: %w", at, err))
	}
	cfg, err := prev.ConfigFile()
	if err != nil {
		return failure.New("analyze", failure.AnalyzeError,
			fmt.Errorf("reading the config of the previous image %s: %w", j.o.Output, err))
	}
	var md labels.Lifecycle
	ok, err := labels.Decode(cfg, labels.LifecycleMetadata, &md)
	switch {
	case err != nil:
		r.warn("the previous image %s has an unreadable %s label (%v): building without it", j.o.Output, labels.LifecycleMetadata, err)
		return nil
	case !ok:
		r.info("The previous image %s is not a buildpacks app image: building without it", j.o.Output)
		return nil
	}
	d, err := prev.Digest()
	if err != nil {
		return failure.New("analyze", failure.AnalyzeError,
			fmt.Errorf("reading the digest of the previous image %s: %w", j.o.Output, err))
	}
	r.step("ANALYZED previous image %s", d)
	j.previous, j.prevMD = prev, &md
	return nil
}

// byName says whether loc names its image in a place that keeps the
// app's earlier builds (the local store, a registry), as opposed to a
// layout or archive written anew.
func byName(loc imageio.Location) bool {
	return loc.Kind == imageio.Store || loc.Kind == imageio.Registry
}

// openBuilder opens the builder image and unpacks its root file system.
func (j *job) openBuilder(ctx context.Context) error {
	r := j.report("builder")
	r.step("BUILDER %s", j.o.Builder)
	loc, err := imageio.ParseSource(j.o.Builder)
	if err != nil {
		return failure.New("builder", failure.InvalidInput, err)
	}
	img, err := j.pull(ctx, loc)
	if err != nil {
		if loc.Kind == imageio.Store {
			err = fmt.Errorf("%w (kiln builder ls lists the builders in the local store)", err)
		}
		return failure.New("builder", failure.Generic, err)
	}
	if j.b, err = builder.Open(ctx, img, j.o.CacheDir, infoLines(j.log, "builder")); err != nil {
		return failure.New("builder", failure.Generic, fmt.Errorf("%s: %w", j.o.Builder, err))
	}
	return nil
}

// runImage is the resolved run image.
type runImage struct {
	img     v1.Image
	name    string
	mirrors []string
	// ref names it uniquely (see runReference).
	ref    string
	target descriptor.RunTarget
	// publish says the run image is only local and goes to the registry
	// as name (and ref) with the app (see planRunPublish); digest is then
	// its digest.
	publish bool
	digest  v1.Hash
}

// openRunImage resolves the run image: --run-image, else the builder's.
func (j *job) openRunImage(ctx context.Context) error {
	n, mirrors, err := chooseRunImage(j.b, j.o.RunImage)
	if err != nil {
		return failure.New("builder", failure.InvalidInput, err)
	}
	j.report("run image").step("RUN IMAGE %s", n)
	ri, err := j.resolveRun(ctx, n, mirrors)
	if err != nil {
		return err
	}
	j.run = ri
	return nil
}

// resolveRun opens the run image n (with its mirrors) as the pull policy
// says and works out how the app records it.
func (j *job) resolveRun(ctx context.Context, n string, mirrors []string) (runImage, error) {
	loc, err := imageio.ParseSource(n)
	if err != nil {
		return runImage{}, failure.New("run image", failure.InvalidInput, err)
	}
	img, local, err := j.openRun(ctx, loc)
	if err != nil {
		return runImage{}, failure.New("run image", failure.Generic, err)
	}
	ri := runImage{img: img, name: n, mirrors: mirrors}
	if local {
		err = j.planRunPublish(ctx, &ri)
	} else {
		ri.ref, err = runReference(img, n, loc)
	}
	if err != nil {
		return runImage{}, failure.New("run image", failure.Generic, err)
	}
	if ri.target, err = targetOf(img); err != nil {
		return runImage{}, failure.New("run image", failure.Generic, err)
	}
	return ri, nil
}

// openRun reads the run image at loc. For an app going to a registry it
// also says whether the run image is only local (in the store, an OCI
// layout or an archive) rather than read from its registry.
func (j *job) openRun(ctx context.Context, loc imageio.Location) (img v1.Image, local bool, err error) {
	if j.o.Output.Kind != imageio.Registry || j.o.PullPolicy == PullAlways {
		img, err := j.pull(ctx, loc)
		return img, false, err
	}
	if j.o.PullPolicy == PullNever {
		img, err := j.images.Open(ctx, loc, false)
		return img, loc.Kind != imageio.Registry, err
	}
	if img, err = j.images.Open(ctx, loc, false); err == nil {
		return img, true, nil
	}
	if loc.Kind != imageio.Store || !imageio.IsNotFound(err) {
		return nil, false, err
	}
	img, err = j.images.Open(ctx, loc, true)
	return img, false, err
}

// planRunPublish makes a published app's local run image one others can
// pull: it goes to the registry with the app (see PublishedRunImage) and
// the app records it there. The builder's mirrors name copies of an image
// kiln did not find in any registry, so none is recorded.
func (j *job) planRunPublish(ctx context.Context, ri *runImage) error {
	tag, err := PublishedRunImage(j.o.Output.Name, j.o.RunImageRepo, ri.name)
	if err != nil {
		return err
	}
	d, err := ri.img.Digest()
	if err != nil {
		return fmt.Errorf("reading run image digest: %w", err)
	}
	local := ri.name
	ri.name, ri.ref, ri.mirrors, ri.publish, ri.digest = tag.String(), tag.Context().Digest(d.String()).String(), nil, true, d
	if err := j.images.CheckWritable(ctx, imageio.Location{Kind: imageio.Registry, Name: ri.name}); err != nil {
		return fmt.Errorf("the run image %s is only local and goes to the registry with the app: %w (name another repository with --run-image-repo)", local, err)
	}
	j.report("run image").info("The run image %s is only local: it is published as %s with the app", local, ri.ref)
	return nil
}

// PublishedRunImage is where a published app's local run image goes:
// repo when given (its tag, else the run image's), else the repository
// "run" beside the app's (REGISTRY/PARENT/app -> REGISTRY/PARENT/run)
// with the run image's tag ("latest" for one read by digest, from an OCI
// layout or an archive).
func PublishedRunImage(appName, repo, runName string) (name.Tag, error) {
	tag := "latest"
	if isTagged(runName) {
		if t, err := name.NewTag(runName, name.WeakValidation); err == nil {
			tag = t.TagStr()
		}
	}
	if repo != "" {
		if r, err := name.NewRepository(repo, name.WeakValidation); err == nil {
			return r.Tag(tag), nil
		}
		t, err := name.NewTag(repo, name.WeakValidation)
		if err != nil {
			return name.Tag{}, fmt.Errorf("--run-image-repo %q: want a repository (REGISTRY/PATH[:TAG]): %w", repo, err)
		}
		return t, nil
	}
	app, err := name.ParseReference(appName, name.WeakValidation)
	if err != nil {
		return name.Tag{}, fmt.Errorf("image name %q: %w", appName, err)
	}
	p := "run"
	if i := strings.LastIndex(app.Context().RepositoryStr(), "/"); i >= 0 {
		p = app.Context().RepositoryStr()[:i] + "/run"
	}
	if p == app.Context().RepositoryStr() {
		return name.Tag{}, fmt.Errorf("the app's repository %s is where its run image would go: name another with --run-image-repo", app.Context())
	}
	r, err := name.NewRepository(app.Context().RegistryStr()+"/"+p, name.WeakValidation)
	if err != nil {
		return name.Tag{}, fmt.Errorf("run image repository for %s: %w", appName, err)
	}
	return r.Tag(tag), nil
}

// isTagged says whether ref (an image name, not oci: or docker-archive:)
// carries a tag.
func isTagged(ref string) bool {
	if strings.HasPrefix(ref, "oci:") || strings.HasPrefix(ref, "docker-archive:") || strings.Contains(ref, "@") {
		return false
	}
	return strings.Contains(ref[strings.LastIndex(ref, "/")+1:], ":")
}

func chooseRunImage(b *builder.Builder, override string) (string, []string, error) {
	if override != "" {
		return override, nil, nil
	}
	if len(b.Run.Images) == 0 || b.Run.Images[0].Image == "" {
		return "", nil, errors.New("the builder names no run image (/cnb/run.toml): pass --run-image")
	}
	return b.Run.Images[0].Image, b.Run.Images[0].Mirrors, nil
}

// runReference names the run image uniquely: a digest reference for an
// image known by name (store, registry), else its image ID.
func runReference(img v1.Image, runName string, loc imageio.Location) (string, error) {
	if byName(loc) {
		d, err := img.Digest()
		if err != nil {
			return "", fmt.Errorf("reading run image digest: %w", err)
		}
		if ref, err := name.ParseReference(runName, name.WeakValidation); err == nil {
			return ref.Context().Digest(d.String()).String(), nil
		}
	}
	id, err := img.ConfigName()
	if err != nil {
		return "", fmt.Errorf("reading run image id: %w", err)
	}
	return id.String(), nil
}

func targetOf(img v1.Image) (descriptor.RunTarget, error) {
	cfg, err := img.ConfigFile()
	if err != nil {
		return descriptor.RunTarget{}, fmt.Errorf("reading run image config: %w", err)
	}
	t := descriptor.RunTarget{OS: cfg.OS, Arch: cfg.Architecture, ArchVariant: cfg.Variant}
	if t.OS == "" {
		t.OS = "linux"
	}
	t.DistroName = cfg.Config.Labels[labels.BaseDistroName]
	t.DistroVersion = cfg.Config.Labels[labels.BaseDistroVersion]
	return t, nil
}

// Pull policies (Options.PullPolicy), as pack names them.
const (
	PullIfNotPresent = "if-not-present"
	PullAlways       = "always"
	PullNever        = "never"
)

// pull opens the builder or run image at loc as the pull policy says:
// if-not-present takes the local store's copy, else the registry's;
// never takes only the local copy; always reads the registry even when
// the store has the name.
func (j *job) pull(ctx context.Context, loc imageio.Location) (v1.Image, error) {
	switch j.o.PullPolicy {
	case PullNever:
		img, err := j.images.Open(ctx, loc, false)
		if imageio.IsNotFound(err) {
			return nil, fmt.Errorf("%w (--pull-policy never: the registry is not asked)", err)
		}
		return img, err
	case PullAlways:
		if loc.Kind == imageio.Store {
			loc.Kind = imageio.Registry
		}
		return j.images.Open(ctx, loc, false)
	}
	return j.images.Open(ctx, loc, true)
}
