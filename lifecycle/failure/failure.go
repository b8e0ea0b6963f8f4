package failure

import (
	"errors"
	"fmt"
)

// Exit codes, by phase.
const (
	Generic            = 1
	PlatformAPI        = 11
	BuildpackAPI       = 12
	DetectNoGroup      = 20 // no group passed detection
	DetectError        = 21 // no group passed and a buildpack errored
	AnalyzeError       = 30
	RestoreError       = 40
	BuildpackFailed    = 51 // a buildpack's bin/build exited non-zero
	BuildError         = 52 // the build phase itself failed
	ExportError        = 62
	RebaseError        = 72
	LaunchError        = 82
	InvalidInput       = 2   // bad flags or arguments
	SandboxUnavailable = 3   // the container runtime could not start
	TimedOut           = 124 // the build ran past its --timeout (as timeout(1))
	Interrupted        = 130 // stopped by SIGINT/SIGTERM (128+2, as shells report ^C)
)

// Error is an error in a named phase with the exit code it maps to.
type Error struct {
	Phase string
	Code  int
	Err   error
}

func (e *Error) Error() string {
	if e.Phase == "" {
		return e.Err.Error()
	}
	return fmt.Sprintf("%s: %v", e.Phase, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// New wraps err as a failure of phase with code. A nil err stays nil, and
// an err that already carries a code keeps it.
func New(phase string, code int, err error) error {
	if err == nil {
		return nil
	}
	var fe *Error
	if errors.As(err, &fe) {
		return err
	}
	return &Error{Phase: phase, Code: code, Err: err}
}

// Code returns the exit code for err: 0 for nil, the code of the first
// *Error in its chain, else Generic.
func Code(err error) int {
	if err == nil {
		return 0
	}
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Code
	}
	return Generic
}
