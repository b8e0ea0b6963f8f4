package detect

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/kiln-build/kiln/lifecycle/failure"
)

// Report is the trial log of a detect phase.
type Report struct {
	// Buildpacks holds every buildpack's result, in the order they first
	// ran (each runs once).
	Buildpacks []BuildpackResult
	// Groups holds every candidate group tried, in order.
	Groups []GroupTrial
}

// BuildpackResult is one buildpack's detect result.
type BuildpackResult struct {
	ID, Version string
	// Extension marks an image extension's result.
	Extension bool
	Outcome
	// TargetMismatch is set when bin/detect did not run because no
	// [[targets]] entry matches the run image (Status is then Fail).
	TargetMismatch bool
}

// Ref returns "id@version".
func (b BuildpackResult) Ref() string { return b.ID + "@" + b.Version }

// Name is Ref, with "extension " in front for an image extension.
func (b BuildpackResult) Name() string {
	if b.Extension {
		return "extension " + b.Ref()
	}
	return b.Ref()
}

// GroupTrial is one candidate group and why it did not pass.
type GroupTrial struct {
	Number  int // 1-based position among the candidate groups
	Members []TrialMember
	Passed  bool
	Reason  string // why the group did not pass
}

// TrialMember names a member of a candidate group.
type TrialMember struct {
	Ref       string
	Optional  bool
	Extension bool
}

// Errored reports whether any buildpack errored.
func (r Report) Errored() bool {
	for _, b := range r.Buildpacks {
		if b.Status == Error {
			return true
		}
	}
	return false
}

// Sentinel errors a *NoGroupError matches with errors.Is.
var (
	// ErrNoGroup: no candidate group passed detection (exit code 20, and
	// also matched when the code is 21).
	ErrNoGroup = errors.New("no buildpack group passed detection")
	// ErrBuildpackErrored: no group passed and a buildpack errored (exit
	// code 21).
	ErrBuildpackErrored = errors.New("a buildpack errored during detection")
)

// NoGroupError is returned (inside a *failure.Error) when no group passed.
// Its message lists every buildpack's result with its output and every
// group tried with the reason it failed.
type NoGroupError struct {
	Report Report
}

// Code returns the platform exit code: 21 when a buildpack errored, else 20.
func (e *NoGroupError) Code() int {
	if e.Report.Errored() {
		return failure.DetectError
	}
	return failure.DetectNoGroup
}

// Is matches ErrNoGroup, and ErrBuildpackErrored when a buildpack errored.
func (e *NoGroupError) Is(target error) bool {
	return target == ErrNoGroup || (target == ErrBuildpackErrored && e.Report.Errored())
}

func (e *NoGroupError) Error() string {
	var b strings.Builder
	b.WriteString(ErrNoGroup.Error())
	if e.Report.Errored() {
		b.WriteString(" (and a buildpack errored)")
	}
	if len(e.Report.Groups) == 0 {
		b.WriteString("\nthe order holds no buildpack for this execution environment")
		return b.String()
	}
	b.WriteString("\n\nbuildpacks:")
	for _, r := range e.Report.Buildpacks {
		fmt.Fprintf(&b, "\n  %s: %s", r.Name(), r.summary())
		out := bytes.TrimRight(r.Output, "\n")
		if len(out) == 0 {
			if !r.TargetMismatch {
				b.WriteString("\n    (no output)")
			}
			continue
		}
		for _, line := range strings.Split(string(out), "\n") {
			b.WriteString("\n    | ")
			b.WriteString(line)
		}
	}
	b.WriteString("\n\ngroups tried:")
	for _, g := range e.Report.Groups {
		refs := make([]string, len(g.Members))
		for i, m := range g.Members {
			refs[i] = m.Ref
			if m.Extension {
				refs[i] = "extension " + m.Ref
			} else if m.Optional {
				refs[i] += " (optional)"
			}
		}
		fmt.Fprintf(&b, "\n  %d. %s: %s", g.Number, strings.Join(refs, ", "), g.Reason)
	}
	return b.String()
}

func (r BuildpackResult) summary() string {
	switch {
	case r.TargetMismatch:
		return "skipped: no [[targets]] entry matches the run image"
	case r.Status == Pass:
		return "pass"
	case r.Status == Fail:
		return fmt.Sprintf("fail (exit code %d)", r.ExitCode)
	case r.Err != nil:
		return "error: " + r.Err.Error()
	}
	return fmt.Sprintf("error (exit code %d)", r.ExitCode)
}
