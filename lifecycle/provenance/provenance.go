package provenance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/lifecycle/labels"
)

// Build is what a build knows that the image it made does not say: the
// build fills it and New reads the rest from the image's labels.
type Build struct {
	// BuilderRef is the builder image as the user named it.
	BuilderRef string
	// BuilderDigest is the builder image's manifest digest; when unset,
	// New reads it from the io.kiln.builder label (name@digest) the
	// build wrote.
	BuilderDigest v1.Hash
	// SourceDir is the app's source directory.
	SourceDir string
	// Source, when set, is SourceDir as described already (see
	// DescribeSource): a multi-platform build describes its source once
	// for the provenance of every image and of the index.
	Source *Source
	// UntrustedSource says SourceDir came from someone else: it is
	// described with DescribeUntrusted.
	UntrustedSource bool
	// EnvNames are the names of the build-time env (--env, --env-file);
	// values are never recorded.
	EnvNames []string
	// RunImage and Buildpacks are the --run-image and --buildpack flags.
	RunImage   string
	Buildpacks []string
	// StartedOn and FinishedOn bound the build.
	StartedOn, FinishedOn time.Time
	// KilnVersion is the running kiln's version.
	KilnVersion string
}

// New makes the provenance of img from what the build knew (b) and the
// image's CNB labels (run image and buildpacks). The source is described
// with Describe(ctx, b.SourceDir), or DescribeUntrusted.
func New(ctx context.Context, b Build, img v1.Image) (*Predicate, error) {
	src, err := b.DescribeSource(ctx)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the image config: %w", err)
	}
	if b.BuilderDigest.Hex == "" {
		b.BuilderDigest = builderDigest(cfg)
	}
	p := fromBuild(b, src)
	deps, err := imageDependencies(cfg)
	if err != nil {
		return nil, err
	}
	p.BuildDefinition.ResolvedDependencies = append(p.BuildDefinition.ResolvedDependencies, deps...)
	return p, nil
}

// fromBuild is the predicate of what b says: the external and internal
// parameters, the builder dependency and the run's details.
func fromBuild(b Build, src Source) *Predicate {
	p := &Predicate{
		BuildDefinition: BuildDefinition{
			BuildType: BuildType,
			ExternalParameters: ExternalParameters{
				Source:       src,
				BuilderImage: b.BuilderRef,
				RunImage:     b.RunImage,
				Buildpacks:   b.Buildpacks,
			},
		},
		RunDetails: runDetails(b.KilnVersion, b.StartedOn, b.FinishedOn),
	}
	if len(b.EnvNames) > 0 {
		p.BuildDefinition.InternalParameters = &InternalParameters{EnvNames: b.EnvNames}
	}
	if b.BuilderRef != "" || b.BuilderDigest.Hex != "" {
		p.BuildDefinition.ResolvedDependencies = append(p.BuildDefinition.ResolvedDependencies,
			imageDependency(DepBuilder, b.BuilderRef, b.BuilderDigest))
	}
	return p
}

// DescribeSource is b.Source when set, else b.SourceDir described with
// Describe (DescribeUntrusted for an untrusted source).
func (b Build) DescribeSource(ctx context.Context) (Source, error) {
	if b.Source != nil {
		return *b.Source, nil
	}
	return describe(ctx, b.SourceDir, !b.UntrustedSource)
}

// Rebased is the provenance of a rebased image: the original build's
// (old, when known) with the run image and buildpacks read anew from img,
// the image it was rebased from recorded, and this run's details.
func Rebased(old *Predicate, from name.Digest, img v1.Image, kilnVersion string, started, finished time.Time) (*Predicate, error) {
	p := &Predicate{BuildDefinition: BuildDefinition{BuildType: BuildType}}
	if old != nil {
		p.BuildDefinition = old.BuildDefinition
		p.BuildDefinition.ResolvedDependencies = nil
		if d, ok := old.Dependency(DepBuilder); ok {
			p.BuildDefinition.ResolvedDependencies = append(p.BuildDefinition.ResolvedDependencies, d)
		}
	}
	p.BuildDefinition.ExternalParameters.RebasedFrom = from.String()
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the image config: %w", err)
	}
	deps, err := imageDependencies(cfg)
	if err != nil {
		return nil, err
	}
	p.BuildDefinition.ResolvedDependencies = append(p.BuildDefinition.ResolvedDependencies, deps...)
	p.RunDetails = runDetails(kilnVersion, started, finished)
	return p, nil
}

func runDetails(version string, started, finished time.Time) RunDetails {
	if version == "" {
		version = "dev"
	}
	md := Metadata{InvocationID: invocationID()}
	if !started.IsZero() {
		s := started.UTC()
		md.StartedOn = &s
	}
	if !finished.IsZero() {
		f := finished.UTC()
		md.FinishedOn = &f
	}
	return RunDetails{
		Builder:  Builder{ID: BuilderIDPrefix + version, Version: map[string]string{"kiln": version}},
		Metadata: md,
	}
}

// invocationID is a random UUID (version 4).
func invocationID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// imageDependency describes an image by the name it was used by and its
// manifest digest.
func imageDependency(dep, ref string, digest v1.Hash) ResourceDescriptor {
	d := ResourceDescriptor{Name: dep}
	if ref != "" {
		d.URI = "oci://" + ref
	}
	if digest.Hex != "" {
		d.Digest = map[string]string{digest.Algorithm: digest.Hex}
	}
	return d
}

// builderDigest is the builder digest in the io.kiln.builder label
// (name@digest) of the image a build made, or none.
func builderDigest(cfg *v1.ConfigFile) v1.Hash {
	l := cfg.Config.Labels[labels.KilnBuilder]
	i := strings.LastIndex(l, "@")
	if i < 0 {
		return v1.Hash{}
	}
	h, err := v1.NewHash(l[i+1:])
	if err != nil {
		return v1.Hash{}
	}
	return h
}

// imageDependencies reads the run image and the buildpacks from an
// image's CNB labels.
func imageDependencies(cfg *v1.ConfigFile) ([]ResourceDescriptor, error) {
	var deps []ResourceDescriptor
	var md labels.Lifecycle
	if _, err := labels.Decode(cfg, labels.LifecycleMetadata, &md); err != nil {
		return nil, err
	}
	if ri := md.RunImage; ri.Image != "" || ri.Reference != "" {
		deps = append(deps, runImageDependency(ri))
	}
	var bm labels.Build
	if _, err := labels.Decode(cfg, labels.BuildMetadata, &bm); err != nil {
		return nil, err
	}
	for _, bp := range bm.Buildpacks {
		deps = append(deps, ResourceDescriptor{
			Name:        DepBuildpack,
			URI:         "urn:cnb:buildpack:" + bp.ID + "@" + bp.Version,
			Annotations: map[string]string{"id": bp.ID, "version": bp.Version},
		})
	}
	return deps, nil
}

// runImageDependency describes the run image: the name it is known by
// and the digest its reference pins (repo@sha256:..., or a bare image ID
// for one read from a local file).
func runImageDependency(ri labels.RunImage) ResourceDescriptor {
	ref := ri.Image
	var digest v1.Hash
	if r, d, ok := strings.Cut(ri.Reference, "@"); ok {
		if h, err := v1.NewHash(d); err == nil {
			digest = h
			if ref == "" {
				ref = r
			}
		}
	} else if h, err := v1.NewHash(ri.Reference); err == nil {
		digest = h
	}
	return imageDependency(DepRunImage, ref, digest)
}
