package detect

import (
	"context"

	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// Status is what a bin/detect run amounted to.
type Status int

// The statuses of a bin/detect run.
const (
	// Pass: exit code 0 and a readable build plan.
	Pass Status = iota
	// Fail: exit code 100, the buildpack does not apply.
	Fail
	// Error: any other exit code, a bin/detect that could not be started,
	// or a build plan that could not be read.
	Error
)

func (s Status) String() string {
	switch s {
	case Pass:
		return "pass"
	case Fail:
		return "fail"
	case Error:
		return "error"
	}
	return "unknown"
}

// Exit codes of bin/detect (buildpack.md §Detection).
const (
	CodePass = 0
	CodeFail = 100
)

// Outcome is the result of one bin/detect run.
type Outcome struct {
	Status Status
	// ExitCode is the exit code, or -1 when the process did not exit
	// normally or did not start.
	ExitCode int
	// Output is what bin/detect wrote to stdout and stderr, interleaved.
	Output []byte
	// Plan is the build plan the buildpack wrote (when Status is Pass).
	Plan descriptor.BuildPlan
	// Err says why Status is Error.
	Err error
}

// Inputs are what every bin/detect of a detect phase shares.
type Inputs struct {
	// AppDir is the working directory of bin/detect.
	AppDir string
	// PlatformDir is CNB_PLATFORM_DIR; its env/ holds user variables.
	PlatformDir string
	// BuildConfigDir holds operator variables in env/ (applied to every
	// buildpack, unsuffixed files acting as defaults); empty for none.
	BuildConfigDir string
	// ExecEnv is CNB_EXEC_ENV.
	ExecEnv string
	// Target describes the run image (CNB_TARGET_*).
	Target descriptor.RunTarget
}

// Executor runs one buildpack's bin/detect. Buildpack failures (exit
// codes, unreadable plans, a missing bin/detect) are reported in the
// Outcome; the error is for the phase itself (a cancelled context, no
// temporary directory) and stops detection.
type Executor interface {
	Detect(ctx context.Context, bp *descriptor.Buildpack, in Inputs) (Outcome, error)
}
