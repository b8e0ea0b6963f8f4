package builder

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strconv"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/internal/env"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// Builder is an opened builder image with its root file system unpacked.
type Builder struct {
	Image  v1.Image
	Digest v1.Hash
	Config *v1.ConfigFile
	// RootFS is the unpacked root file system (read-only by convention).
	RootFS string
	// UID and GID are the CNB user the buildpacks run as.
	UID, GID int
	Order    descriptor.Order
	// OrderExtensions is order.toml's [[order-extensions]]: the image
	// extensions tried in front of every group.
	OrderExtensions descriptor.Order
	// System are the builder's system buildpacks (system.toml), added
	// around every group.
	System   System
	Run      RunImages
	Metadata labels.Builder
}

// Open reads the builder image img, unpacking its root file system under
// cacheDir (once per digest). Progress goes to log.
func Open(ctx context.Context, img v1.Image, cacheDir string, log io.Writer) (*Builder, error) {
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("reading builder digest: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading builder config: %w", err)
	}
	b := &Builder{Image: img, Digest: digest, Config: cfg}
	if b.UID, b.GID, err = cnbUser(cfg); err != nil {
		return nil, err
	}
	if _, err := labels.Decode(cfg, labels.BuilderMetadata, &b.Metadata); err != nil {
		return nil, fmt.Errorf("reading builder: %w", err)
	}
	if b.RootFS, err = Unpack(ctx, img, filepath.Join(cacheDir, "rootfs"), log); err != nil {
		return nil, fmt.Errorf("unpacking builder %s: %w", digest, err)
	}
	orders, err := readOrders(b.RootFS)
	if err != nil {
		return nil, fmt.Errorf("reading builder: %w", err)
	}
	b.Order, b.OrderExtensions = orders.Buildpacks, orders.Extensions
	if b.System, err = readSystem(b.RootFS); err != nil {
		return nil, fmt.Errorf("reading builder: %w", err)
	}
	if b.Run, err = ReadRunImages(b.RootFS); err != nil {
		return nil, fmt.Errorf("reading builder: %w", err)
	}
	if len(b.Run.Images) == 0 && b.Metadata.Stack.RunImage.Image != "" {
		ri := b.Metadata.Stack.RunImage
		b.Run.Images = []RunImage{{Image: ri.Image, Mirrors: ri.Mirrors}}
	}
	return b, nil
}

// cnbUser reads CNB_USER_ID and CNB_GROUP_ID from the image env.
func cnbUser(cfg *v1.ConfigFile) (uid, gid int, err error) {
	vars := env.New(cfg.Config.Env)
	parse := func(k string) (int, error) {
		v, ok := vars.Lookup(k)
		if !ok {
			return 0, fmt.Errorf("builder image config has no %s in its env: not a CNB builder", k)
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("builder image config: %s=%q is not a user id", k, v)
		}
		return n, nil
	}
	if uid, err = parse("CNB_USER_ID"); err != nil {
		return 0, 0, err
	}
	if gid, err = parse("CNB_GROUP_ID"); err != nil {
		return 0, 0, err
	}
	return uid, gid, nil
}

// Env returns the builder image's configured environment.
func (b *Builder) Env() []string { return append([]string(nil), b.Config.Config.Env...) }

// BuildpacksDir is the host path of the builder's /cnb/buildpacks.
func (b *Builder) BuildpacksDir() string { return filepath.Join(b.RootFS, "cnb", "buildpacks") }

// ExtensionsDir is the host path of the builder's /cnb/extensions.
func (b *Builder) ExtensionsDir() string { return filepath.Join(b.RootFS, "cnb", "extensions") }
