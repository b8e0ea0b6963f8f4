package generatephase

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-build/kiln/internal/env"
	"github.com/kiln-build/kiln/internal/progrun"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/failure"
)

// Options configure Run.
type Options struct {
	AppDir      string // <app>, the working directory of bin/generate
	PlatformDir string // <platform>; its env/ holds user variables
	// BuildConfigDir is <build-config>; its env/ holds operator
	// variables, unsuffixed files acting as defaults.
	BuildConfigDir string
	// OutputDir is <generated>: each extension writes its files to
	// <generated>/<escaped id>/ (Platform API 0.13 and later).
	OutputDir string
	// Extensions are the detected image extensions ([[group-extensions]]),
	// in order.
	Extensions []descriptor.GroupEntry
	// ExtensionsDir is where they are, laid out <escaped id>/<version>/.
	ExtensionsDir string
	// Plan is the resolved build plan (plan.toml).
	Plan descriptor.Plan
	// BaseEnv is the build image's environment; HostEnv the lifecycle's,
	// of which only env.PassThrough's variables are taken.
	BaseEnv, HostEnv []string
	// Target describes the run image (CNB_TARGET_*).
	Target descriptor.RunTarget
	// Output receives every extension's output, each line behind
	// "[<extension id>] ". Nil discards it.
	Output io.Writer
}

// ExtensionError reports a bin/generate that did not exit 0. Run returns
// it inside a *failure.Error with code failure.GenerateFailed.
type ExtensionError struct {
	Ref      string // id@version
	ExitCode int    // -1 when killed by a signal
	Signal   string
}

func (e *ExtensionError) Error() string {
	if e.Signal != "" {
		return fmt.Sprintf("extension %s: bin/generate was killed by signal %s", e.Ref, e.Signal)
	}
	return fmt.Sprintf("extension %s: bin/generate failed with exit code %d", e.Ref, e.ExitCode)
}

// Run is the generate phase (image_extension.md, Phase: Generation):
// each extension in turn runs bin/generate <output> <platform> <plan>, or,
// without bin/generate, has its generate/ directory's Dockerfiles and
// extend-config.toml copied to its output dir. It returns the build plan
// left for the buildpacks: extensions meet every entry they are given,
// so those entries go to no buildpack. Errors are *failure.Error values
// with code failure.GenerateFailed for a failing bin/generate, else
// failure.GenerateError.
func Run(ctx context.Context, o Options) (descriptor.Plan, error) {
	if o.Output == nil {
		o.Output = io.Discard
	}
	tmp, err := os.MkdirTemp("", "kiln-generate-")
	if err != nil {
		return descriptor.Plan{}, failure.New("generate", failure.GenerateError, fmt.Errorf("creating directory for extension plans: %w", err))
	}
	defer os.RemoveAll(tmp)
	lookup := descriptor.NewExtensionLookup(o.ExtensionsDir)
	met := map[string]bool{}
	for i, e := range o.Extensions {
		if err := ctx.Err(); err != nil {
			return descriptor.Plan{}, failure.New("generate", failure.GenerateError, fmt.Errorf("generate of %s: %w", e.Ref(), err))
		}
		ext, err := lookup.Find(e.ID, e.Version)
		if err != nil {
			return descriptor.Plan{}, failure.New("generate", failure.GenerateError, fmt.Errorf("generate of %s: %w", e.Ref(), err))
		}
		plan := planFor(o.Plan, ext.Buildpack.ID)
		for _, r := range plan.Entries {
			met[r.Name] = true
		}
		planPath := filepath.Join(tmp, fmt.Sprintf("%d-plan.toml", i))
		if err := descriptor.WriteBuildpackPlan(planPath, plan); err != nil {
			return descriptor.Plan{}, failure.New("generate", failure.GenerateError, fmt.Errorf("writing the plan of extension %s: %w", e.Ref(), err))
		}
		if err := generate(ctx, o, ext, planPath); err != nil {
			return descriptor.Plan{}, failure.New("generate", failure.GenerateError, err)
		}
	}
	return withoutEntries(o.Plan, met), nil
}

// generate runs one extension's generate into a fresh output dir.
func generate(ctx context.Context, o Options, ext *descriptor.Buildpack, planPath string) error {
	out := filepath.Join(o.OutputDir, descriptor.EscapeID(ext.Buildpack.ID))
	if err := os.RemoveAll(out); err != nil {
		return fmt.Errorf("clearing the output dir of extension %s: %w", ext.Ref(), err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("creating the output dir of extension %s: %w", ext.Ref(), err)
	}
	bin := filepath.Join(ext.Dir, "bin", "generate")
	fi, err := os.Stat(bin)
	if errors.Is(err, fs.ErrNotExist) {
		return copyStatic(ext, out)
	}
	if err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("extension %s: %s is not an executable file", ext.Ref(), bin)
	}
	environ, err := generateEnv(o, ext, out, planPath)
	if err != nil {
		return fmt.Errorf("environment of extension %s: %w", ext.Ref(), err)
	}
	return runGenerate(ctx, o, ext, bin, environ, []string{out, o.PlatformDir, planPath})
}

// generateEnv is bin/generate's environment: as bin/build's, with
// CNB_EXTENSION_DIR and CNB_OUTPUT_DIR for CNB_BUILDPACK_DIR and
// CNB_LAYERS_DIR, and the target variables from Buildpack API 0.10 on.
func generateEnv(o Options, ext *descriptor.Buildpack, out, planPath string) ([]string, error) {
	e := env.New(o.BaseEnv)
	for _, kv := range env.PassThrough(o.HostEnv) {
		name, value, _ := strings.Cut(kv, "=")
		e.Set(name, value)
	}
	if !ext.Buildpack.ClearEnv {
		if err := e.ApplyPlatformDir(filepath.Join(o.PlatformDir, "env")); err != nil {
			return nil, err
		}
	}
	if o.BuildConfigDir != "" {
		if err := e.ApplyEnvDirs(env.Default, filepath.Join(o.BuildConfigDir, "env")); err != nil {
			return nil, err
		}
	}
	e.Unset("CNB_BUILDPACK_DIR")
	e.Unset("CNB_LAYERS_DIR")
	e.Set("CNB_BP_PLAN_PATH", planPath)
	e.Set("CNB_EXTENSION_DIR", ext.Dir)
	e.Set("CNB_OUTPUT_DIR", out)
	e.Set("CNB_PLATFORM_DIR", o.PlatformDir)
	if ext.ParsedAPI().AtLeast(descriptor.API{Major: 0, Minor: 10}) {
		o.Target.SetEnv(e.Set, e.Unset)
	}
	return e.Environ(), nil
}

func runGenerate(ctx context.Context, o Options, ext *descriptor.Buildpack, bin string, environ, args []string) error {
	exit, err := progrun.Run(ctx, progrun.Cmd{Bin: bin, Args: args, Dir: o.AppDir, Env: environ,
		Output: o.Output, Prefix: "[" + ext.Buildpack.ID + "] "})
	if err != nil || exit == nil {
		return err
	}
	return failure.New("generate", failure.GenerateFailed, &ExtensionError{Ref: ext.Ref(), ExitCode: exit.Code, Signal: exit.Signal})
}

// planFor is the buildpack plan of extension id: the requirements of
// every entry it provides.
func planFor(p descriptor.Plan, id string) descriptor.BuildpackPlan {
	out := descriptor.BuildpackPlan{Entries: []descriptor.Require{}}
	for _, e := range p.Entries {
		for _, pr := range e.Providers {
			if pr.Extension && pr.ID == id {
				out.Entries = append(out.Entries, e.Requires...)
				break
			}
		}
	}
	return out
}

// withoutEntries is p without the entries named in met.
func withoutEntries(p descriptor.Plan, met map[string]bool) descriptor.Plan {
	out := descriptor.Plan{Entries: []descriptor.PlanEntry{}}
	for _, e := range p.Entries {
		if len(e.Requires) > 0 && met[e.Requires[0].Name] {
			continue
		}
		out.Entries = append(out.Entries, e)
	}
	return out
}
