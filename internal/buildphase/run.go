package buildphase

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/kiln-build/kiln/internal/beneath"
	"github.com/kiln-build/kiln/internal/buildsbom"
	"github.com/kiln-build/kiln/internal/env"
	"github.com/kiln-build/kiln/internal/progrun"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/launch"
)

// maxBuildpackEntries bounds the entries of one buildpack's layers dir.
const maxBuildpackEntries = 10000

// Default locations inside the build container (platform.md, builder).
const (
	DefaultAppDir         = "/workspace"
	DefaultLayersDir      = "/layers"
	DefaultPlatformDir    = "/platform"
	DefaultBuildConfigDir = "/cnb/build-config"
	DefaultExecEnv        = "production"
)

// Options configure Run. Zero-valued directories take the Default* values
// and descriptor.DefaultBuildpacksDir.
type Options struct {
	AppDir      string // <app>, the working directory of bin/build
	LayersDir   string // <layers>; each buildpack gets <layers>/<escaped id>
	PlatformDir string // <platform>; its env/ holds user variables
	// BuildpacksDir is <buildpacks>, laid out <escaped id>/<version>/; it
	// may be a list of roots separated by ':', searched in order.
	BuildpacksDir string
	// BuildConfigDir is <build-config>; its env/ holds operator variables
	// whose unsuffixed files act as defaults, applied last.
	BuildConfigDir string

	// Group is the detected group (group.toml), in build order.
	Group []descriptor.GroupEntry
	// Plan is the resolved build plan (plan.toml).
	Plan descriptor.Plan

	// BaseEnv is the build image's environment ("NAME=value"); every
	// buildpack starts from it as it is.
	BaseEnv []string
	// HostEnv is the lifecycle's own environment; only HOME, HOSTNAME and
	// the proxy variables are taken from it (env.PassThrough), on top of
	// BaseEnv.
	HostEnv []string

	// Target describes the run image; it becomes CNB_TARGET_*.
	Target descriptor.RunTarget
	// ExecEnv is CNB_EXEC_ENV; "production" when empty.
	ExecEnv string

	// Output receives every buildpack's stdout and stderr, each line
	// prefixed with "[<buildpack id>] ". Nil discards it.
	Output io.Writer
}

// Result is the outcome of a successful build: the content of
// <layers>/config/metadata.toml.
type Result struct {
	Metadata launch.Metadata
	// MetadataPath is where Metadata was written.
	MetadataPath string
}

// BuildpackError reports a bin/build that did not exit 0. Run returns it
// wrapped in a *failure.Error with code failure.BuildpackFailed (51).
type BuildpackError struct {
	ID       string
	Version  string
	ExitCode int    // -1 when the process was killed by a signal
	Signal   string // the signal's name when killed, else ""
}

func (e *BuildpackError) Error() string {
	if e.Signal != "" {
		return fmt.Sprintf("buildpack %s@%s: bin/build was killed by signal %s", e.ID, e.Version, e.Signal)
	}
	return fmt.Sprintf("buildpack %s@%s: bin/build failed with exit code %d", e.ID, e.Version, e.ExitCode)
}

func (o Options) withDefaults() (Options, error) {
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&o.AppDir, DefaultAppDir)
	def(&o.LayersDir, DefaultLayersDir)
	def(&o.PlatformDir, DefaultPlatformDir)
	def(&o.BuildpacksDir, descriptor.DefaultBuildpacksDir)
	def(&o.BuildConfigDir, DefaultBuildConfigDir)
	def(&o.ExecEnv, DefaultExecEnv)
	for _, p := range []*string{&o.AppDir, &o.LayersDir, &o.PlatformDir, &o.BuildConfigDir} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return o, fmt.Errorf("resolving %s: %w", *p, err)
		}
		*p = abs
	}
	roots := filepath.SplitList(o.BuildpacksDir)
	for i, r := range roots {
		abs, err := filepath.Abs(r)
		if err != nil {
			return o, fmt.Errorf("resolving %s: %w", r, err)
		}
		roots[i] = abs
	}
	o.BuildpacksDir = strings.Join(roots, string(filepath.ListSeparator))
	if o.Output == nil {
		o.Output = io.Discard
	}
	return o, nil
}

// Run builds the app: every buildpack of opts.Group runs bin/build in
// order, then <layers>/config/metadata.toml is written. Errors are
// *failure.Error values: code 51 (with a *BuildpackError inside) for a
// failing buildpack, 12 for an unsupported Buildpack API, 52 otherwise.
func Run(ctx context.Context, opts Options) (Result, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return Result{}, failure.New("build", failure.BuildError, err)
	}
	res, err := run(ctx, opts)
	if err != nil {
		code := failure.BuildError
		if errors.Is(err, descriptor.ErrUnsupportedAPI) {
			code = failure.BuildpackAPI
		}
		return Result{}, failure.New("build", code, err)
	}
	return res, nil
}

func run(ctx context.Context, opts Options) (Result, error) {
	tmp, err := os.MkdirTemp("", "kiln-build-")
	if err != nil {
		return Result{}, fmt.Errorf("creating directory for buildpack plans: %w", err)
	}
	defer os.RemoveAll(tmp)

	lookup := descriptor.NewLookup(opts.BuildpacksDir)
	plans := newPlanSplitter(opts.Plan)
	merge := &merger{appDir: opts.AppDir}
	var done [][]string // build layer directories of each built buildpack
	var sboms []buildsbom.Source
	var legacy []buildsbom.LegacyEntry
	meta := launch.Metadata{Buildpacks: []launch.MetadataBuildpack{}}

	for i, entry := range opts.Group {
		if err := ctx.Err(); err != nil {
			return Result{}, fmt.Errorf("build of %s: %w", entry.Ref(), err)
		}
		bp, err := lookup.Find(entry.ID, entry.Version)
		if err != nil {
			return Result{}, fmt.Errorf("build of %s: %w", entry.Ref(), err)
		}
		if bp.IsComposite() {
			return Result{}, fmt.Errorf("build of %s: composite buildpacks cannot be in a detected group", entry.Ref())
		}
		layersDir := filepath.Join(opts.LayersDir, descriptor.EscapeID(bp.Buildpack.ID))
		if err := ensureOwnedDir(layersDir); err != nil {
			return Result{}, err
		}

		a := plans.take(bp.Buildpack.ID)
		planPath := filepath.Join(tmp, fmt.Sprintf("%d-plan.toml", i))
		if err := descriptor.WriteBuildpackPlan(planPath, a.plan); err != nil {
			return Result{}, fmt.Errorf("writing buildpack plan of %s: %w", entry.Ref(), err)
		}

		e, err := buildEnv(opts, bp, done)
		if err != nil {
			return Result{}, fmt.Errorf("environment of %s: %w", entry.Ref(), err)
		}
		e.Set("CNB_LAYERS_DIR", layersDir)
		e.Set("CNB_BP_PLAN_PATH", planPath)
		e.Set("CNB_PLATFORM_DIR", opts.PlatformDir)
		e.Set("CNB_BUILDPACK_DIR", bp.Dir)
		e.Set("CNB_EXEC_ENV", opts.ExecEnv)
		opts.Target.SetEnv(e.Set, e.Unset)

		// The positional arguments are given at every Buildpack API, as
		// the reference lifecycle does: the spec dropped them from its
		// text at 0.8, but real buildpacks still read "$1 $2 $3".
		args := []string{layersDir, opts.PlatformDir, planPath}
		if err := runBuild(ctx, opts, bp, e.Environ(), args); err != nil {
			return Result{}, err
		}

		o, err := readOutput(opts, layersDir, bp, plans, a)
		if err != nil {
			return Result{}, fmt.Errorf("output of %s: %w", entry.Ref(), err)
		}
		merge.add(contribution{buildpackID: bp.Buildpack.ID, api: bp.ParsedAPI(), launch: o.launch})
		done = append(done, o.scan.buildDirs)
		sboms = append(sboms, o.scan.buildSBOMs...)
		for _, b := range o.build.BOM {
			legacy = append(legacy, buildsbom.LegacyEntry{BOMEntry: b, Buildpack: buildsbom.Buildpack{ID: bp.Buildpack.ID, Version: bp.Buildpack.Version}})
		}
		meta.Buildpacks = append(meta.Buildpacks, launch.MetadataBuildpack{
			ID:       bp.Buildpack.ID,
			Version:  bp.Buildpack.Version,
			API:      bp.API,
			Homepage: bp.Buildpack.Homepage,
		})
	}
	// Build-time SBOMs go where a platform reads them, as the reference
	// lifecycle puts them: they describe the build, not the image.
	if err := buildsbom.Write(opts.LayersDir, sboms, legacy); err != nil {
		return Result{}, err
	}

	meta.BuildpackDefaultProcessType = merge.defaultType
	meta.Processes = nonNil(merge.processes)
	meta.Labels = nonNil(merge.labels)
	meta.Slices = nonNil(merge.slices)
	configDir := filepath.Join(opts.LayersDir, "config")
	if err := os.MkdirAll(configDir, 0o755); err != nil {
		return Result{}, fmt.Errorf("creating %s: %w", configDir, err)
	}
	path := filepath.Join(configDir, "metadata.toml")
	if err := launch.WriteMetadata(path, meta); err != nil {
		return Result{}, err
	}
	return Result{Metadata: meta, MetadataPath: path}, nil
}

// output is what one buildpack's bin/build left, checked.
type output struct {
	scan   layerScan
	build  launch.Build
	launch launch.Launch
}

// readOutput checks and reads what bp left in layersDir: the layers, its
// SBOM files, build.toml (settling its unmet plan entries a), store.toml
// and launch.toml.
func readOutput(opts Options, layersDir string, bp *descriptor.Buildpack, plans *planSplitter, a assignment) (output, error) {
	// Layer dirs and their TOML, SBOM files: only directories and
	// regular files, never links or FIFOs (the host refuses them too).
	shape := beneath.New(layersDir, func(rel string) string { return filepath.Join(layersDir, rel) })
	if err := shape.CheckShape(1, maxBuildpackEntries); err != nil {
		return output{}, err
	}
	var o output
	var err error
	if o.scan, err = checkLayers(layersDir, bp); err != nil {
		return output{}, err
	}
	bpath := filepath.Join(layersDir, buildTOML)
	if o.build, err = launch.ReadBuild(bpath); err != nil {
		return output{}, err
	}
	if err := plans.settle(a, o.build.Unmet, bpath); err != nil {
		return output{}, err
	}
	if _, err := launch.ReadStore(filepath.Join(layersDir, storeTOML)); err != nil {
		return output{}, err
	}
	lpath := filepath.Join(layersDir, launchTOML)
	if o.launch, err = launch.ReadLaunch(lpath); err != nil {
		return output{}, err
	}
	if err := checkSlices(lpath, opts.AppDir, o.launch.Slices); err != nil {
		return output{}, err
	}
	return o, nil
}

// buildEnv assembles the environment of bp's bin/build: the build image's
// variables, the pass-through variables of the lifecycle's own
// environment, every earlier buildpack's build layers in group order, the
// user's <platform>/env (unless bp sets clear-env) and the operator's
// <build-config>/env.
func buildEnv(opts Options, bp *descriptor.Buildpack, done [][]string) (*env.Env, error) {
	e := env.New(opts.BaseEnv)
	for _, kv := range env.PassThrough(opts.HostEnv) {
		name, value, _ := strings.Cut(kv, "=")
		e.Set(name, value)
	}
	for _, buildDirs := range done {
		if err := e.AddBuildpackLayers(env.Build, "", buildDirs); err != nil {
			return nil, err
		}
	}
	if !bp.Buildpack.ClearEnv {
		if err := e.ApplyPlatformDir(filepath.Join(opts.PlatformDir, "env")); err != nil {
			return nil, err
		}
	}
	if err := e.ApplyEnvDirs(env.Default, filepath.Join(opts.BuildConfigDir, "env")); err != nil {
		return nil, err
	}
	return e, nil
}

// runBuild runs bp's bin/build in the app directory with environ and
// args, streaming its output to opts.Output behind the buildpack's ID.
func runBuild(ctx context.Context, opts Options, bp *descriptor.Buildpack, environ, args []string) error {
	exit, err := progrun.Run(ctx, progrun.Cmd{Bin: filepath.Join(bp.Dir, "bin", "build"), Args: args, Dir: opts.AppDir,
		Env: environ, Output: opts.Output, Prefix: "[" + bp.Buildpack.ID + "] "})
	if err != nil || exit == nil {
		return err
	}
	return failure.New("build", failure.BuildpackFailed,
		&BuildpackError{ID: bp.Buildpack.ID, Version: bp.Buildpack.Version, ExitCode: exit.Code, Signal: exit.Signal})
}

// ensureOwnedDir creates dir (mode 0755) and makes sure the running user
// owns it, so that bin/build can write its layers there.
func ensureOwnedDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating layers directory %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("reading layers directory %s: %w", dir, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	uid, gid := os.Getuid(), os.Getgid()
	if int(st.Uid) != uid {
		if err := os.Chown(dir, uid, gid); err != nil {
			return fmt.Errorf("taking ownership of layers directory %s: %w", dir, err)
		}
	}
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
