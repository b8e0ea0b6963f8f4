package detect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/failure"
)

// Defaults of Options (platform.md, detector inputs).
const (
	DefaultAppDir         = "/workspace"
	DefaultPlatformDir    = "/platform"
	DefaultBuildConfigDir = "/cnb/build-config"
	DefaultExecEnv        = "production"
)

// Options configure Run.
type Options struct {
	// Order is the order to resolve (order.toml).
	Order descriptor.Order
	// Buildpacks finds the buildpacks the order names, usually a
	// *descriptor.Lookup over /cnb/buildpacks.
	Buildpacks Finder
	// Extensions is the image extensions' order ([[order-extensions]]),
	// tried in front of every group of Order (see ExpandWithExtensions);
	// Extensions finds them, usually a descriptor.NewExtensionLookup over
	// /cnb/extensions.
	Extensions      descriptor.Order
	ExtensionFinder Finder
	// Executor runs bin/detect; a zero ProcessExecutor when nil.
	Executor Executor

	// AppDir, PlatformDir and BuildConfigDir default to /workspace,
	// /platform and /cnb/build-config.
	AppDir         string
	PlatformDir    string
	BuildConfigDir string
	// ExecEnv is the execution environment (CNB_EXEC_ENV); "production"
	// when empty. Buildpacks whose exec-env excludes it are skipped.
	ExecEnv string
	// Target describes the run image. A required buildpack whose
	// [[targets]] do not match it fails; an optional one is skipped.
	Target descriptor.RunTarget

	// Log receives human-readable progress; nil discards it.
	Log io.Writer
}

// Result is the outcome of a detect phase that found a group.
type Result struct {
	// Group is the detected group for group.toml: the buildpacks that
	// passed, in order, with their API and homepage.
	Group []descriptor.GroupEntry
	// Buildpacks are the descriptors of Group, in the same order.
	Buildpacks []*descriptor.Buildpack
	// GroupExtensions are the image extensions that passed detection and
	// kept a place in the build plan, in order ([[group-extensions]]);
	// Extensions are their descriptors.
	GroupExtensions []descriptor.GroupEntry
	Extensions      []*descriptor.Buildpack
	// Plan is the resolved build plan for plan.toml.
	Plan descriptor.Plan
	// Report holds what happened to every buildpack and group tried.
	Report Report
}

// WriteFiles writes r.Group and r.GroupExtensions to groupPath
// (group.toml) and r.Plan to planPath (plan.toml).
func (r *Result) WriteFiles(groupPath, planPath string) error {
	if err := descriptor.WriteGroups(groupPath, descriptor.Groups{Buildpacks: r.Group, Extensions: r.GroupExtensions}); err != nil {
		return err
	}
	return descriptor.WritePlan(planPath, r.Plan)
}

// Run performs the detect phase: it expands opts.Order and tries the
// candidate groups in turn. In each group every buildpack's bin/detect
// runs (at most once per phase: outcomes are remembered by id@version)
// until a required one fails; the first group where every required
// buildpack passes, at least one passes, and the build plan resolves, is
// chosen, filtered to the buildpacks that passed and survived plan
// resolution.
//
// When no group passes, the error is a *failure.Error with code 20 or 21
// wrapping a *NoGroupError (errors.Is works with ErrNoGroup and
// ErrBuildpackErrored). A buildpack with an unsupported API gives code 12.
// Other errors (an order naming a missing buildpack, a cancelled context)
// are returned as they are.
func Run(ctx context.Context, opts Options) (*Result, error) {
	opts = opts.withDefaults()
	if strings.Contains(opts.ExecEnv, "/") {
		return nil, fmt.Errorf("execution environment %q: '/' is reserved", opts.ExecEnv)
	}
	if opts.Buildpacks == nil {
		return nil, errors.New("detect: no buildpack lookup given")
	}
	groups, err := ExpandWithExtensions(opts.Order, opts.Extensions, opts.Buildpacks, opts.ExtensionFinder, opts.ExecEnv)
	if err != nil {
		if errors.Is(err, descriptor.ErrUnsupportedAPI) {
			return nil, failure.New("detect", failure.BuildpackAPI, err)
		}
		return nil, err
	}
	r := &runner{opts: opts, outcomes: map[string]int{}}
	in := Inputs{
		AppDir:         opts.AppDir,
		PlatformDir:    opts.PlatformDir,
		BuildConfigDir: opts.BuildConfigDir,
		ExecEnv:        opts.ExecEnv,
		Target:         opts.Target,
	}
	for i, g := range groups {
		res, err := r.tryGroup(ctx, i+1, g, in)
		if err != nil {
			return nil, err
		}
		if res != nil {
			res.Report = r.report
			return res, nil
		}
	}
	ng := &NoGroupError{Report: r.report}
	return nil, failure.New("detect", ng.Code(), ng)
}

func (o Options) withDefaults() Options {
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&o.AppDir, DefaultAppDir)
	def(&o.PlatformDir, DefaultPlatformDir)
	def(&o.BuildConfigDir, DefaultBuildConfigDir)
	def(&o.ExecEnv, DefaultExecEnv)
	for _, p := range []*string{&o.AppDir, &o.PlatformDir, &o.BuildConfigDir} {
		if abs, err := filepath.Abs(*p); err == nil {
			*p = abs
		}
	}
	if o.Executor == nil {
		o.Executor = &ProcessExecutor{}
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o
}

type runner struct {
	opts     Options
	report   Report
	outcomes map[string]int // id@version -> index in report.Buildpacks
}

// detect returns bp's result, running bin/detect the first time only.
func (r *runner) detect(ctx context.Context, bp *descriptor.Buildpack, in Inputs) (BuildpackResult, error) {
	ref := bp.Ref()
	if i, ok := r.outcomes[outcomeKey(bp)]; ok {
		return r.report.Buildpacks[i], nil
	}
	o, err := r.opts.Executor.Detect(ctx, bp, in)
	if err != nil {
		return BuildpackResult{}, fmt.Errorf("detecting %s: %w", ref, err)
	}
	res := BuildpackResult{ID: bp.Buildpack.ID, Version: bp.Buildpack.Version, Extension: bp.IsExtension(), Outcome: o}
	switch o.Status {
	case Error:
		fmt.Fprintf(r.opts.Log, "error: %s: %v\n", res.Name(), o.Err)
	default:
		fmt.Fprintf(r.opts.Log, "%s: %s\n", o.Status, res.Name())
	}
	return r.record(outcomeKey(bp), res), nil
}

// outcomeKey names bp among the outcomes: a buildpack and an extension
// may share an id and version.
func outcomeKey(bp *descriptor.Buildpack) string { return bp.Kind.String() + " " + bp.Ref() }

// skipTarget records that bp's targets do not match the run image.
func (r *runner) skipTarget(bp *descriptor.Buildpack) BuildpackResult {
	if i, ok := r.outcomes[outcomeKey(bp)]; ok {
		return r.report.Buildpacks[i]
	}
	res := BuildpackResult{
		ID: bp.Buildpack.ID, Version: bp.Buildpack.Version, Extension: bp.IsExtension(),
		Outcome:        Outcome{Status: Fail, ExitCode: -1},
		TargetMismatch: true,
	}
	fmt.Fprintf(r.opts.Log, "skip: %s: no [[targets]] entry matches the run image %s\n", res.Name(), describeTarget(r.opts.Target))
	return r.record(outcomeKey(bp), res)
}

func (r *runner) record(ref string, res BuildpackResult) BuildpackResult {
	r.outcomes[ref] = len(r.report.Buildpacks)
	r.report.Buildpacks = append(r.report.Buildpacks, res)
	return res
}

// tryGroup runs one candidate group; it returns nil (and records why)
// when the group does not pass.
func (r *runner) tryGroup(ctx context.Context, n int, g []Member, in Inputs) (*Result, error) {
	trial := GroupTrial{Number: n}
	for _, m := range g {
		trial.Members = append(trial.Members, TrialMember{Ref: m.Ref(), Optional: m.Optional, Extension: m.Buildpack.IsExtension()})
	}
	fail := func(reason string) (*Result, error) {
		trial.Reason = reason
		r.report.Groups = append(r.report.Groups, trial)
		return nil, nil
	}
	var pass []passed
	buildpacks := 0 // buildpacks (not extensions) that passed
	for _, m := range g {
		bp := m.Buildpack
		var res BuildpackResult
		if !r.opts.Target.MatchesAny(bp.Targets) {
			res = r.skipTarget(bp)
		} else {
			var err error
			if res, err = r.detect(ctx, bp, in); err != nil {
				return nil, err
			}
		}
		if res.Status == Pass {
			pass = append(pass, passed{member: m, alts: res.Plan.Alternatives()})
			if !bp.IsExtension() {
				buildpacks++
			}
			continue
		}
		if m.Optional {
			continue
		}
		switch {
		case res.TargetMismatch:
			return fail(fmt.Sprintf("%s does not support the run image %s", m.Ref(), describeTarget(r.opts.Target)))
		case res.Status == Error:
			return fail(fmt.Sprintf("%s errored", m.Ref()))
		default:
			return fail(fmt.Sprintf("%s failed", m.Ref()))
		}
	}
	if buildpacks == 0 {
		return fail("no buildpack passed")
	}
	resolved, reason, ok := resolvePlan(pass)
	if !ok {
		return fail("build plan did not resolve: " + reason)
	}
	for _, d := range resolved.dropped {
		fmt.Fprintf(r.opts.Log, "dropped optional %s: %s\n", d.member.Ref(), d.reason)
	}
	trial.Passed = true
	r.report.Groups = append(r.report.Groups, trial)
	out := &Result{Plan: resolved.plan}
	for _, m := range resolved.kept {
		bp := m.Buildpack
		e := descriptor.GroupEntry{
			ID:       bp.Buildpack.ID,
			Version:  bp.Buildpack.Version,
			API:      bp.API,
			Homepage: bp.Buildpack.Homepage,
			ExecEnv:  m.ExecEnv,
		}
		if bp.IsExtension() {
			out.GroupExtensions = append(out.GroupExtensions, e)
			out.Extensions = append(out.Extensions, bp)
			fmt.Fprintf(r.opts.Log, "detected: extension %s\n", m.Ref())
			continue
		}
		out.Group = append(out.Group, e)
		out.Buildpacks = append(out.Buildpacks, bp)
		fmt.Fprintf(r.opts.Log, "detected: %s\n", m.Ref())
	}
	return out, nil
}

func describeTarget(t descriptor.RunTarget) string {
	s := t.OS + "/" + t.Arch
	if t.ArchVariant != "" {
		s += "/" + t.ArchVariant
	}
	if t.DistroName != "" || t.DistroVersion != "" {
		s += " (" + strings.TrimSpace(t.DistroName+" "+t.DistroVersion) + ")"
	}
	return s
}
