package create

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/lifecycle/archive"
	"github.com/kiln-build/kiln/lifecycle/builder"
	"github.com/kiln-build/kiln/lifecycle/cache"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/export"
	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/labels"
	"github.com/kiln-build/kiln/lifecycle/sandbox"
)

// Paths inside the build container.
const (
	AppPath        = "/workspace"
	LayersPath     = "/layers"
	PlatformPath   = "/platform"
	KilnBinPath    = "/kiln/bin/kiln"
	ConfigPath     = "/kiln/config"
	ExtraBPPath    = "/kiln/buildpacks"
	OrderPath      = ConfigPath + "/order.toml"
	layersRel      = "layers" // LayersPath inside image tars
	DetectErrorRel = ".kiln/detect-error.txt"
	BuildErrorRel  = ".kiln/build-error.txt"
)

// Options describe one build.
type Options struct {
	// Name is the app image name.
	Name string
	// Output is where the image goes.
	Output imageio.Location
	// SourceDir is the app's source tree.
	SourceDir string
	// Builder names the builder image (store, registry, oci:, docker-archive:).
	Builder string
	// RunImage overrides the builder's run image.
	RunImage string
	// Buildpacks, when given, replace the builder's order with one group:
	// each is a buildpack id[@version] in the builder, or a directory.
	Buildpacks []string
	// Env is the platform environment, KEY=VALUE.
	Env []string
	// DefaultProcess overrides the buildpacks' default process type.
	DefaultProcess string
	// Runtime is the OCI runtime binary (runc, crun, runsc).
	Runtime string
	// CACerts are extra PEM files the build trusts besides the host's CAs.
	CACerts []string
	// KilnBinary is the static kiln binary mounted into the container.
	KilnBinary string
	// Launcher is the launcher binary put into the image.
	Launcher        []byte
	LauncherVersion string
	// CacheDir is kiln's cache root (builder root file systems, work dirs).
	CacheDir string
	// CacheImage, when set, keeps the layer cache in this registry image
	// instead of the local cache dir.
	CacheImage string
	// ClearCache empties the app's layer cache before the build.
	ClearCache bool
	// ModTime is the time of every new file; zero means SOURCE_DATE_EPOCH
	// or the CNB constant.
	ModTime time.Time
	// Isolation are the build containers' network and limits.
	Isolation
	// Out gets progress and the buildpacks' output.
	Out io.Writer
}

// Isolation is how far the build containers are kept from the host.
type Isolation struct {
	// Network is the containers' network: sandbox.NetworkSlirp (the
	// default: outbound only), NetworkHost or NetworkNone.
	Network string
	// Limits are the cgroup limits of each container (zero: defaults).
	sandbox.Limits
	// Timeout ends a build that runs longer; zero means none.
	Timeout time.Duration
}

// Result is a finished build.
type Result struct {
	Image  v1.Image
	Digest v1.Hash
	Output imageio.Location
}

// errTimedOut is the cause of a build context ended by Options.Timeout.
var errTimedOut = errors.New("build timed out")

// Run builds the app and writes its image to o.Output. With o.Timeout, a
// build still running then is stopped (its containers killed and deleted,
// nothing written) and fails with failure.TimedOut.
func Run(ctx context.Context, iio *imageio.IO, o Options) (*Result, error) {
	if o.Timeout <= 0 {
		return run(ctx, iio, o)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, o.Timeout, errTimedOut)
	defer cancel()
	res, err := run(ctx, iio, o)
	if err != nil && errors.Is(context.Cause(ctx), errTimedOut) {
		phase := "build"
		var fe *failure.Error
		if errors.As(err, &fe) && fe.Phase != "" {
			phase = fe.Phase
		}
		return nil, &failure.Error{Phase: phase, Code: failure.TimedOut,
			Err: fmt.Errorf("the build ran longer than its timeout (%s) and was stopped; nothing was written", o.Timeout)}
	}
	return res, err
}

func run(ctx context.Context, iio *imageio.IO, o Options) (*Result, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	logf := func(format string, a ...any) { fmt.Fprintf(o.Out, "===> "+format+"\n", a...) }

	// The destination must take the image before any work is done.
	if err := iio.CheckWritable(ctx, o.Output); err != nil {
		return nil, failure.New("analyze", failure.AnalyzeError, err)
	}

	// Analyze: the previous image of this app, if any, for layer reuse.
	previous, prevMD := analyze(ctx, iio, o.Output)
	if previous != nil {
		d, _ := previous.Digest()
		logf("ANALYZED previous image %s", d)
	}

	// Builder and run image.
	logf("BUILDER %s", o.Builder)
	bloc, err := imageio.ParseSource(o.Builder)
	if err != nil {
		return nil, failure.New("builder", failure.InvalidInput, err)
	}
	bimg, err := iio.Open(ctx, bloc, true)
	if err != nil {
		return nil, failure.New("builder", failure.Generic, err)
	}
	b, err := builder.Open(ctx, bimg, o.CacheDir, o.Out)
	if err != nil {
		return nil, failure.New("builder", failure.Generic, fmt.Errorf("%s: %w", o.Builder, err))
	}
	runName, mirrors, err := chooseRunImage(b, o.RunImage)
	if err != nil {
		return nil, failure.New("builder", failure.InvalidInput, err)
	}
	logf("RUN IMAGE %s", runName)
	rloc, err := imageio.ParseSource(runName)
	if err != nil {
		return nil, failure.New("run image", failure.InvalidInput, err)
	}
	runImg, err := iio.Open(ctx, rloc, true)
	if err != nil {
		return nil, failure.New("run image", failure.Generic, err)
	}
	runRef, err := runReference(runImg, runName, rloc)
	if err != nil {
		return nil, failure.New("run image", failure.Generic, err)
	}
	target, err := targetOf(runImg)
	if err != nil {
		return nil, failure.New("run image", failure.Generic, err)
	}

	// Work dir.
	if err := os.MkdirAll(filepath.Join(o.CacheDir, "work"), 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp(filepath.Join(o.CacheDir, "work"), "build-")
	if err != nil {
		return nil, fmt.Errorf("creating work dir: %w", err)
	}
	defer os.RemoveAll(work)
	ids, err := reserveIDs(ctx)
	if err != nil {
		return nil, failure.New("sandbox", failure.SandboxUnavailable, err)
	}
	defer ids.Release()
	own := hostOwner(ids, b.UID, b.GID)
	w := workDirs(work)
	if err := w.prepare(own); err != nil {
		return nil, err
	}
	if err := writePlatformEnv(w.platform, o.Env); err != nil {
		return nil, failure.New("platform", failure.InvalidInput, err)
	}
	logf("SOURCE %s", o.SourceDir)
	if err := copySource(ctx, o.SourceDir, w.app, own, o.Out); err != nil {
		return nil, failure.New("source", failure.InvalidInput, err)
	}
	order, extraBP, err := effectiveOrder(b, o.Buildpacks, w.extraBP)
	if err != nil {
		return nil, failure.New("buildpacks", failure.InvalidInput, err)
	}
	if err := descriptor.WriteOrder(filepath.Join(w.config, "order.toml"), order); err != nil {
		return nil, err
	}

	modTime := o.ModTime
	if modTime.IsZero() {
		if modTime, err = SourceDateEpoch(); err != nil {
			return nil, failure.New("platform", failure.InvalidInput, err)
		}
	}
	caBundle, cleanCA, err := sandbox.CABundle(ctx, w.tmp, o.CACerts...)
	if errors.Is(err, sandbox.ErrNoCABundle) && len(o.CACerts) == 0 {
		fmt.Fprintln(o.Out, "warning: the host has no CA bundle; TLS downloads in the build may fail")
		caBundle, err = "", nil
	}
	if err != nil {
		return nil, failure.New("ca-cert", failure.InvalidInput, err)
	}
	defer cleanCA()
	cb := containerBase{
		runtime: o.Runtime, rootfs: b.RootFS, uid: b.UID, gid: b.GID,
		env: buildEnv(b.Env(), modTime),
		out: o.Out, caBundle: caBundle, tempDir: w.tmp,
		ids: ids, Isolation: o.Isolation, warnOnce: &sync.Once{},
		mounts: []sandbox.Mount{
			{Source: w.app, Destination: AppPath},
			{Source: w.layers, Destination: LayersPath},
			{Source: w.platform, Destination: PlatformPath},
			{Source: o.KilnBinary, Destination: KilnBinPath, ReadOnly: true},
			{Source: w.config, Destination: ConfigPath, ReadOnly: true},
		},
	}
	bpRoots := descriptor.DefaultBuildpacksDir
	if extraBP {
		cb.mounts = append(cb.mounts, sandbox.Mount{Source: w.extraBP, Destination: ExtraBPPath, ReadOnly: true})
		bpRoots = ExtraBPPath + ":" + bpRoots
	}
	phaseArgs := []string{
		"--app", AppPath, "--layers", LayersPath, "--platform", PlatformPath,
		"--buildpacks", bpRoots,
		"--target-os", target.OS, "--target-arch", target.Arch, "--target-arch-variant", target.ArchVariant,
		"--target-distro-name", target.DistroName, "--target-distro-version", target.DistroVersion,
	}

	// Detect.
	logf("DETECTING")
	out := newBuildOutput(w)
	if err := cb.phase(ctx, "detect", append([]string{"--order", OrderPath}, phaseArgs...), out, DetectErrorRel); err != nil {
		return nil, err
	}
	if err := out.check("detect", failure.DetectError); err != nil {
		return nil, err
	}
	group, err := out.group()
	if err != nil {
		return nil, failure.New("detect", failure.DetectError, err)
	}

	// Restore.
	var cacheOpts []cache.Option
	if o.CacheImage != "" {
		cacheOpts = append(cacheOpts, cache.WithImage(iio, o.CacheImage))
	}
	appCache, err := cache.Open(ctx, cacheDirFor(o.CacheDir, o.Name), cacheOpts...)
	if err != nil {
		return nil, failure.New("restore", failure.RestoreError, err)
	}
	defer appCache.Close()
	saved := false
	defer func() {
		// Trees go back only from a layers dir in a shape the host may
		// act on: never through a link a failed build planted.
		if !saved && out.check("restore", failure.RestoreError) == nil {
			appCache.GiveBack()
		}
	}()
	if o.ClearCache {
		if err := appCache.Clear(); err != nil {
			return nil, failure.New("restore", failure.RestoreError, err)
		}
	}
	restored, err := appCache.Restore(ctx, cache.RestoreOptions{
		LayersDir: w.layers, LayersPrefix: layersRel,
		Group: group, Previous: prevMD, Owner: own,
		Warn: func(f string, a ...any) { fmt.Fprintf(o.Out, "warning: "+f+"\n", a...) },
	})
	if err != nil {
		return nil, failure.New("restore", failure.RestoreError, err)
	}
	if len(restored.Contents) > 0 {
		logf("RESTORED %s", strings.Join(restored.Contents, ", "))
	}
	if len(restored.MetadataOnly) > 0 {
		logf("RESTORED METADATA %s", strings.Join(restored.MetadataOnly, ", "))
	}

	// Build.
	logf("BUILDING")
	if err := cb.phase(ctx, "build", phaseArgs, out, BuildErrorRel); err != nil {
		return nil, err
	}
	if err := out.check("build", failure.BuildError); err != nil {
		return nil, err
	}
	md, err := out.metadata()
	if err != nil {
		return nil, failure.New("build", failure.BuildError, err)
	}

	// Export.
	logf("EXPORTING")
	res, err := export.Export(ctx, export.Options{
		RunImage:          runImg,
		RunImageInfo:      labels.RunImage{Image: runName, Mirrors: mirrors},
		RunImageReference: runRef,
		LayersDir:         w.layers, AppDir: w.app,
		LayersPath: LayersPath, AppPath: AppPath,
		Group:           group,
		Metadata:        md,
		Launcher:        o.Launcher,
		LauncherVersion: o.LauncherVersion,
		UID:             b.UID, GID: b.GID,
		ModTime:        modTime,
		DefaultProcess: o.DefaultProcess,
		Previous:       previous,
		Memo:           loadMemo(appCache.Dir()),
		TempDir:        w.tmp,
		Log:            o.Out,
	})
	if err != nil {
		return nil, failure.New("export", failure.ExportError, err)
	}
	if err := iio.Write(ctx, o.Output, res.Image); err != nil {
		return nil, failure.New("export", failure.ExportError, err)
	}
	digest, err := res.Image.Digest()
	if err != nil {
		return nil, failure.New("export", failure.ExportError, err)
	}
	logf("IMAGE %s@%s (%s)", o.Name, digest, o.Output.Kind)
	saveMemo(appCache.Dir(), res.Memo, o.Out)
	saved = true
	if err := appCache.Save(ctx, cache.SaveOptions{
		LayersDir: w.layers, LayersPrefix: layersRel, Group: group,
		Owner: archive.Owner{UID: b.UID, GID: b.GID}, ModTime: modTime, Exported: res.LaunchCache,
	}); err != nil {
		fmt.Fprintf(o.Out, "warning: the layer cache was not updated: %v\n", err)
	}
	return &Result{Image: res.Image, Digest: digest, Output: o.Output}, nil
}

// analyze returns the app's previous image at out and its lifecycle
// metadata, or nils when there is none (a first build, or not a CNB image).
func analyze(ctx context.Context, iio *imageio.IO, out imageio.Location) (v1.Image, *labels.Lifecycle) {
	if out.Kind != imageio.Store && out.Kind != imageio.Registry {
		return nil, nil
	}
	p, err := iio.Open(ctx, out, false)
	if err != nil {
		return nil, nil
	}
	cfg, err := p.ConfigFile()
	if err != nil {
		return nil, nil
	}
	var md labels.Lifecycle
	if ok, err := labels.Decode(cfg, labels.LifecycleMetadata, &md); !ok || err != nil {
		return nil, nil
	}
	return p, &md
}

// loadMemo reads the layer fingerprint memo kept beside the app's cache.
func loadMemo(dir string) export.Memo {
	var m export.Memo
	b, err := os.ReadFile(filepath.Join(dir, "fingerprints.json"))
	if err != nil || json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}

// saveMemo replaces the memo with the one of the image just written.
func saveMemo(dir string, m export.Memo, log io.Writer) {
	b, err := json.Marshal(m)
	if err == nil {
		tmp := filepath.Join(dir, "fingerprints.json.tmp")
		if err = os.WriteFile(tmp, b, 0o644); err == nil {
			err = os.Rename(tmp, filepath.Join(dir, "fingerprints.json"))
		}
	}
	if err != nil {
		fmt.Fprintf(log, "warning: layer fingerprints not saved: %v\n", err)
	}
}

// buildEnv is the environment of the phase containers: the builder's,
// the platform API, and SOURCE_DATE_EPOCH (the image's time) so tools that
// honour it (pip's bytecode, Debian tooling, ...) write reproducible files.
func buildEnv(builderEnv []string, modTime time.Time) []string {
	env := append(builderEnv, "CNB_PLATFORM_API="+export.PlatformAPI)
	for _, kv := range builderEnv {
		if strings.HasPrefix(kv, "SOURCE_DATE_EPOCH=") {
			return env
		}
	}
	return append(env, fmt.Sprintf("SOURCE_DATE_EPOCH=%d", modTime.Unix()))
}

// cacheDirFor is the layer cache of one app image name.
func cacheDirFor(root, imageName string) string {
	sum := sha256.Sum256([]byte(imageName))
	return filepath.Join(root, "layers", hex.EncodeToString(sum[:8]))
}

// SourceDateEpoch is $SOURCE_DATE_EPOCH as a time, else the CNB constant.
func SourceDateEpoch() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return archive.DefaultModTime, nil
	}
	var n int64
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a Unix time", s)
	}
	return time.Unix(n, 0).UTC(), nil
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

// runReference names the run image uniquely: a digest reference for a
// registry image, else its image ID.
func runReference(img v1.Image, runName string, loc imageio.Location) (string, error) {
	if loc.Kind == imageio.Store || loc.Kind == imageio.Registry {
		d, err := img.Digest()
		if err != nil {
			return "", err
		}
		ref, err := name.ParseReference(runName, name.WeakValidation)
		if err == nil {
			return ref.Context().Digest(d.String()).String(), nil
		}
	}
	id, err := img.ConfigName()
	if err != nil {
		return "", err
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

// writePlatformEnv writes KEY=VALUE pairs as <platform>/env/KEY files.
func writePlatformEnv(platform string, env []string) error {
	dir := filepath.Join(platform, "env")
	sort.Strings(env)
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.ContainsAny(k, "/\x00") || k == "." || k == ".." {
			return fmt.Errorf("--env %q: want KEY=VALUE", kv)
		}
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o644); err != nil {
			return fmt.Errorf("writing platform env %s: %w", k, err)
		}
	}
	return nil
}

// reserveIDs takes a range of host ids for the build's containers when kiln
// is root (rootless runs map the caller's own ids); nil otherwise.
func reserveIDs(ctx context.Context) (*sandbox.IDRange, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	return sandbox.ReserveIDs(ctx)
}
