package create

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/internal/cache"
	"github.com/kiln-build/kiln/internal/workdir"
	"github.com/kiln-build/kiln/lifecycle/builder"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/labels"
	"github.com/kiln-build/kiln/lifecycle/launch"
	"github.com/kiln-build/kiln/lifecycle/sandbox"
	"github.com/kiln-build/kiln/lifecycle/sbom"
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
	// GeneratedPath is where image extensions write their output;
	// GenerateErrorRel is the generate phase's message.
	GeneratedPath    = LayersPath + "/generated"
	GenerateErrorRel = ".kiln/generate-error.txt"
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
	// ListedRunImagesOnly refuses a run image an image extension chooses
	// unless the builder lists it (run.toml, with mirrors), instead of
	// warning: for builds of someone else's source, where what an
	// extension writes may follow the app and the run image is pulled
	// with the host's credentials.
	ListedRunImagesOnly bool
	// RunImageRepo is where a published build puts a run image that is
	// only local (in the store, an OCI layout or an archive), so that the
	// app records one others can pull; empty means "run" next to the
	// app's repository (see PublishedRunImage).
	RunImageRepo string
	// Buildpacks, when given, replace the builder's order with one group:
	// each is a buildpack id[@version] in the builder, or a directory.
	Buildpacks []string
	// PreBuildpacks and PostBuildpacks, given the same way, are added at
	// the start and the end of every group (a project's pre and post
	// groups).
	PreBuildpacks, PostBuildpacks []string
	// SourceExclude, when set, leaves the entries of SourceDir it reports
	// true for out of the workspace (a project's include/exclude; rel is
	// slash-separated, relative to SourceDir).
	SourceExclude func(rel string, isDir bool) bool
	// Project is recorded in the io.buildpacks.project.metadata label.
	Project labels.Project
	// PreviousImage, when set, is the image whose layers the build reuses
	// instead of the one at Output (same kind of place as Output).
	PreviousImage string
	// PullPolicy says where the builder and run images come from:
	// PullIfNotPresent (""), PullAlways or PullNever.
	PullPolicy string
	// Volumes are host paths mounted into the build containers (see
	// CheckVolume); nothing of them enters the image.
	Volumes []sandbox.Mount
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
	// CacheKey, when set, names the app's layer cache instead of Name:
	// kiln build --platform keeps one cache per platform.
	CacheKey string
	// ClearCache empties the app's layer cache before the build.
	ClearCache bool
	// KeepBuildSBOM collects the build-time SBOM files the buildpacks
	// wrote (never in the image) into Result.BuildSBOM.
	KeepBuildSBOM bool
	// ModTime is the time of every new file; zero means SOURCE_DATE_EPOCH
	// or the CNB constant.
	ModTime time.Time
	// Isolation are the build containers' network and limits.
	Isolation
	// Sandbox runs the build containers; nil means sandbox.Run (runc or
	// the runtime named by Runtime).
	Sandbox Sandbox
	// Log gets progress and the buildpacks' output; nil means a TextLog
	// writing to Out.
	Log Log
	// Out gets progress and the buildpacks' output as text, when Log is
	// nil.
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
	// BuildSBOM are the build-time SBOM files, with Options.KeepBuildSBOM:
	// paths build/<buildpack>/[<layer>/]sbom.<ext> and
	// build/sbom.legacy.json, as pack's --sbom-output-dir lays them out.
	BuildSBOM []sbom.File
}

// errTimedOut is the cause of a build context ended by Options.Timeout.
var errTimedOut = errors.New("build timed out")

// Run builds the app and writes its image to o.Output through images. With
// o.Timeout, a build still running then is stopped (its containers killed
// and deleted, nothing written) and fails with failure.TimedOut; a build
// whose ctx is cancelled stops the same way and fails with
// failure.Interrupted, wrapping context.Canceled.
func Run(ctx context.Context, images Images, o Options) (*Result, error) {
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, o.Timeout, errTimedOut)
		defer cancel()
	}
	res, err := run(ctx, images, o)
	if err == nil || ctx.Err() == nil {
		return res, err
	}
	phase := "build"
	var fe *failure.Error
	if errors.As(err, &fe) && fe.Phase != "" {
		phase = fe.Phase
	}
	if errors.Is(context.Cause(ctx), errTimedOut) {
		return nil, &failure.Error{Phase: phase, Code: failure.TimedOut,
			Err: fmt.Errorf("the build ran longer than its timeout (%s) and was stopped; nothing was written", o.Timeout)}
	}
	return nil, &failure.Error{Phase: phase, Code: failure.Interrupted,
		Err: fmt.Errorf("the build was stopped and nothing was written: %w", ctx.Err())}
}

// job is one build on its way through the phases: each step fills in what
// the later ones use.
type job struct {
	o       Options
	images  Images
	log     Log
	closers []func()

	previous v1.Image          // analyze: the app's previous image, if any
	prevMD   *labels.Lifecycle // and its lifecycle label
	b        *builder.Builder  // openBuilder
	run      runImage          // openRunImage
	w        dirs              // the work dir's layout
	own      *archive.Owner    // prepare: the CNB user as the host sees it
	modTime  time.Time
	cb       containerBase
	out      buildOutput
	cache    *cache.Cache            // restore
	restored []string                // and the buildpack dirs it made
	group    []descriptor.GroupEntry // detect
	saved    bool
	md       launch.Metadata // build
	bsbom    []sbom.File     // and its build SBOMs, if kept
	result   *Result         // export
	exported map[string]v1.Layer

	// extensions are the image extensions detect chose (see
	// detectGenerateBuild), for the build metadata label.
	extensions []descriptor.GroupEntry
}

func run(ctx context.Context, images Images, o Options) (*Result, error) {
	j := newJob(images, o)
	for _, s := range []step{{"analyze", j.analyze}, {"builder", j.openBuilder}, {"run image", j.openRunImage}} {
		if err := j.do(ctx, s); err != nil {
			return nil, err
		}
	}
	// The work dir is locked while the build runs; those of killed builds
	// go first, after their cached layer trees went back to their caches.
	work, release, err := workdir.Create(filepath.Join(o.CacheDir, "work"), workdir.BeforeRemove(func(dir string) error {
		return cache.Reclaim(ctx, filepath.Join(o.CacheDir, "layers"), dir)
	}))
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := release(); err != nil {
			j.report("cleanup").warn("removing the work dir: %v", err)
		}
	}()
	defer j.close()
	j.w = workDirs(work)
	for _, s := range []step{{"prepare", j.prepare}, {"restore", j.restore}, {"detect", j.detectBuild}, {"build", j.checkLaunch}, {"export", j.export}} {
		if err := j.do(ctx, s); err != nil {
			return nil, err
		}
	}
	j.begin("cache")
	j.saveCache(ctx)
	j.keepWorkspace()
	return j.result, nil
}

func newJob(images Images, o Options) *job {
	if o.Sandbox == nil {
		o.Sandbox = SandboxFunc(sandbox.Run)
	}
	if o.Log == nil {
		o.Log = NewTextLog(o.Out)
	}
	return &job{o: o, images: images, log: o.Log}
}

// step is one phase of a build.
type step struct {
	phase string
	fn    func(context.Context) error
}

// do runs s unless the build was stopped before it.
func (j *job) do(ctx context.Context, s step) error {
	if err := ctx.Err(); err != nil {
		return failure.New(s.phase, failure.Interrupted, err)
	}
	j.begin(s.phase)
	return s.fn(ctx)
}

// begin tells a Log that times phases (PhaseTimer) that phase begins.
func (j *job) begin(phase string) {
	if b, ok := j.log.(phaseBeginner); ok {
		b.beginPhase(phase)
	}
}

// onClose runs f when the build ends, after the steps that follow it.
func (j *job) onClose(f func()) { j.closers = append(j.closers, f) }

// close undoes what the steps set up, last first.
func (j *job) close() {
	for i := len(j.closers) - 1; i >= 0; i-- {
		j.closers[i]()
	}
}

func (j *job) report(phase string) reporter { return reporter{log: j.log, phase: phase} }
