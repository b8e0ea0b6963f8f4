package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/lifecycle/create"
	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/provenance"
	"github.com/kiln-build/kiln/lifecycle/rebase"
	"github.com/kiln-build/kiln/lifecycle/sbom"
	"github.com/kiln-build/kiln/lifecycle/sign"
	"github.com/kiln-build/kiln/lifecycle/sign/cosignkey"
	"github.com/kiln-build/kiln/lifecycle/sign/release"
	"github.com/kiln-build/kiln/lifecycle/sign/signindex"
)

// sbomAttestation makes the CycloneDX SBOM that kiln build and rebase
// --sign-key attest: the run image's packages and the buildpacks' SBOMs,
// merged by package sbom (what kiln sbom prints).
var sbomAttestation release.SBOMFunc = func(ctx context.Context, img v1.Image) ([]byte, error) {
	b, err := sbom.Read(ctx, img)
	if err != nil {
		return nil, err
	}
	return b.CycloneDX()
}

// signKeyFlag is --sign-key of kiln build and kiln rebase.
var signKeyFlag = &cli.StringFlag{Name: "sign-key", Usage: "with --publish, sign the published image and attach its SLSA provenance with this cosign private key `FILE` (password in $COSIGN_PASSWORD)"}

func signCommand() *cli.Command {
	return &cli.Command{
		Name:      "sign",
		Usage:     "sign an image in its registry with a cosign key, as cosign sign --key does",
		ArgsUsage: "IMAGE",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "key", Required: true, Usage: "cosign private key `FILE` (password in $COSIGN_PASSWORD)"},
			&cli.BoolFlag{Name: "recursive", Aliases: []string{"r"}, Usage: "for an image index, also sign each of its images (as cosign sign --recursive)"},
		},
		Action: runSign,
	}
}

func runSign(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("sign: give exactly one IMAGE")
	}
	iio, ref, err := registryImage(c, "sign")
	if err != nil {
		return err
	}
	signer, err := loadSigner(c.String("key"))
	if err != nil {
		return err
	}
	d, index, err := resolveTarget(c.Context, iio, ref)
	if err != nil {
		return failure.New("sign", failure.SignError, err)
	}
	opt := sign.WithRemote(iio.RemoteOptions(c.Context)...)
	var signed []name.Digest
	if index && c.Bool("recursive") {
		signed, err = signindex.Sign(c.Context, d, signer, iio.RemoteOptions(c.Context)...)
	} else if err = sign.Sign(c.Context, d, signer, opt); err == nil {
		signed = append(signed, d)
	}
	for _, s := range signed {
		fmt.Fprintf(c.App.Writer, "Signed %s\n", s)
	}
	if err != nil {
		return failure.New("sign", failure.SignError, err)
	}
	return nil
}

// resolveTarget pins ref (a tag or digest) to its manifest digest and says
// whether it is an image index.
func resolveTarget(ctx context.Context, iio *imageio.IO, ref name.Reference) (name.Digest, bool, error) {
	desc, err := remote.Get(ref, iio.RemoteOptions(ctx)...)
	if err != nil {
		return name.Digest{}, false, fmt.Errorf("reading %s: %w", ref, err)
	}
	return ref.Context().Digest(desc.Digest.String()), desc.MediaType.IsIndex(), nil
}

// registryImage parses IMAGE, which must name its registry.
func registryImage(c *cli.Context, cmd string) (*imageio.IO, name.Reference, error) {
	s := c.Args().First()
	if !imageio.NamesRegistry(s) {
		return nil, nil, usageError("%s: %q names no registry: give REGISTRY/REPO[:TAG|@DIGEST] of a published image", cmd, s)
	}
	ref, err := name.ParseReference(s, name.WeakValidation)
	if err != nil {
		return nil, nil, usageError("%s: %v", cmd, err)
	}
	store, err := openStore()
	if err != nil {
		return nil, nil, err
	}
	return imageio.New(store), ref, nil
}

// resolveDigest pins ref (a tag or digest) to its manifest digest.
func resolveDigest(ctx context.Context, iio *imageio.IO, ref name.Reference) (name.Digest, error) {
	if d, ok := ref.(name.Digest); ok {
		return d, nil
	}
	desc, err := remote.Get(ref, iio.RemoteOptions(ctx)...)
	if err != nil {
		return name.Digest{}, fmt.Errorf("reading %s: %w", ref, err)
	}
	return ref.Context().Digest(desc.Digest.String()), nil
}

// loadSigner reads a cosign private key with the password in
// COSIGN_PASSWORD.
func loadSigner(path string) (signature.Signer, error) {
	pw, err := cosignkey.PasswordFromEnv()
	if err != nil {
		return nil, failure.New("sign", failure.SignError, fmt.Errorf("private key %s: %w", path, err))
	}
	sv, err := cosignkey.LoadPrivateKey(path, pw)
	if err != nil {
		return nil, failure.New("sign", failure.SignError, err)
	}
	return sv, nil
}

// publishSigning is the signing a kiln build or rebase --sign-key does
// once its image is published; a nil *publishSigning signs nothing.
type publishSigning struct {
	keyDone chan struct{} // closed once signer or keyErr is set
	signer  signature.Signer
	keyErr  error
	parent  context.Context // the command's context before the build's
	started time.Time
	from    name.Digest // a rebase: the image before it
}

// newBuildSigning checks --sign-key and starts decrypting the key (the
// scrypt KDF takes a good part of a second) beside the build: a bad key
// or password cancels the build at once and is the error reported.
func newBuildSigning(c *cli.Context) (*publishSigning, error) {
	p := c.String("sign-key")
	if p == "" {
		return nil, nil
	}
	if hasFlag(c.Command, "publish") && !c.Bool("publish") {
		return nil, usageError("%s: --sign-key needs --publish (signatures live in the registry)", c.Command.Name)
	}
	s := &publishSigning{keyDone: make(chan struct{}), parent: c.Context, started: time.Now()}
	ctx, cancel := context.WithCancelCause(c.Context)
	c.Context = ctx
	go func() {
		defer close(s.keyDone)
		if s.signer, s.keyErr = loadSigner(p); s.keyErr != nil {
			cancel(s.keyErr)
		}
	}()
	return s, nil
}

// key waits for the key and gives the command its own context back.
func (s *publishSigning) key(c *cli.Context) error {
	<-s.keyDone
	c.Context = s.parent
	return s.keyErr
}

func (s *publishSigning) options(c *cli.Context, iio *imageio.IO) release.Options {
	return release.Options{Signer: s.signer, SBOM: sbomAttestation, Remote: iio.RemoteOptions(c.Context), Log: c.App.Writer}
}

// afterBuild attests and signs the image a build published. buildErr is
// the build's outcome: a key that could not be read wins over it (it
// cancelled the build).
func (s *publishSigning) afterBuild(c *cli.Context, iio *imageio.IO, res *create.Result, buildErr error, src string, env []string) error {
	if s == nil {
		return buildErr
	}
	if err := s.key(c); err != nil {
		return err
	}
	if buildErr != nil {
		return buildErr
	}
	ref, err := publishedDigest(res.Output.Name, res.Digest.String())
	if err != nil {
		return err
	}
	b := provenance.Build{
		BuilderRef:      c.String("builder"),
		SourceDir:       src,
		UntrustedSource: c.Bool(untrustedSourceFlag.Name),
		RunImage:        c.String("run-image"),
		Buildpacks:      c.StringSlice("buildpack"),
		StartedOn:       s.started,
		FinishedOn:      time.Now(),
		KilnVersion:     version,
	}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		b.EnvNames = append(b.EnvNames, k)
	}
	index, err := isIndex(c.Context, iio, ref)
	if err != nil {
		return failure.New("sign", failure.SignError, err)
	}
	if index {
		err = release.BuildIndex(c.Context, ref, b, s.options(c, iio))
		return failure.New("sign", failure.SignError, err)
	}
	img, err := written(c, iio, res) // the build's value refers to removed layer files
	if err != nil {
		return failure.New("sign", failure.SignError, err)
	}
	err = release.Build(c.Context, ref, img, b, s.options(c, iio))
	return failure.New("sign", failure.SignError, err)
}

// isIndex says whether ref names an image index (a multi-platform
// build's or rebase's) rather than an image.
func isIndex(ctx context.Context, iio *imageio.IO, ref name.Digest) (bool, error) {
	desc, err := remote.Get(ref, iio.RemoteOptions(ctx)...)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", ref, err)
	}
	return desc.MediaType.IsIndex(), nil
}

// newRebaseSigning reads --sign-key and pins the image before the
// rebase, whose provenance the new one carries on.
func newRebaseSigning(c *cli.Context, iio *imageio.IO, image string) (*publishSigning, error) {
	if c.String("sign-key") != "" && c.String("output") != "" {
		return nil, usageError("rebase: --sign-key signs in the registry; it excludes --output")
	}
	s, err := newBuildSigning(c)
	if s == nil || err != nil {
		return s, err
	}
	if err := s.key(c); err != nil {
		return nil, err
	}
	ref, err := name.ParseReference(image, name.WeakValidation)
	if err != nil {
		return nil, usageError("rebase: %v", err)
	}
	if s.from, err = resolveDigest(c.Context, iio, ref); err != nil {
		return nil, failure.New("rebase", failure.RebaseError, err)
	}
	return s, nil
}

// afterRebase attests and signs the image a rebase published.
func (s *publishSigning) afterRebase(c *cli.Context, iio *imageio.IO, res *rebase.RunResult) error {
	if s == nil {
		return nil
	}
	ref, err := publishedDigest(res.Output.Name, res.Digest.String())
	if err != nil {
		return err
	}
	index, err := isIndex(c.Context, iio, ref)
	if err != nil {
		return failure.New("sign", failure.SignError, err)
	}
	if index {
		err = release.RebaseIndex(c.Context, s.from, ref, version, s.started, s.options(c, iio))
	} else {
		err = release.Rebase(c.Context, s.from, ref, res.Image, version, s.started, s.options(c, iio))
	}
	return failure.New("sign", failure.SignError, err)
}

func publishedDigest(image, digest string) (name.Digest, error) {
	ref, err := name.ParseReference(image, name.WeakValidation)
	if err != nil {
		return name.Digest{}, failure.New("sign", failure.SignError, fmt.Errorf("published image %q: %w", image, err))
	}
	if digest == "" {
		return name.Digest{}, failure.New("sign", failure.SignError, errors.New("the published image has no digest"))
	}
	return ref.Context().Digest(digest), nil
}

// hasFlag says whether cmd defines the flag name.
func hasFlag(cmd *cli.Command, name string) bool {
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}
