package sdk

import (
	"errors"
	"fmt"
)

// Exit codes of bin/detect and bin/build (buildpack.md, §Detection and
// §Build).
const (
	ExitPass       = 0
	ExitDetectFail = 100
	// ExitError is used for every other failure: bad input, a failing
	// download or compiler. The lifecycle turns it into its own build
	// failure code.
	ExitError = 1
)

// DetectFailure is returned by a detect function when the buildpack does
// not apply to the app; bin/detect then exits 100 after logging Reason.
type DetectFailure struct {
	Reason string
}

func (f *DetectFailure) Error() string { return "detection failed: " + f.Reason }

// Fail returns a *DetectFailure with a reason formatted like fmt.Sprintf.
func Fail(format string, args ...any) error {
	return &DetectFailure{Reason: fmt.Sprintf(format, args...)}
}

// FixError is an error that tells the user what to change. Main prints
// the error, then the hint on its own line.
type FixError struct {
	Err  error
	Hint string
}

func (e *FixError) Error() string { return e.Err.Error() }
func (e *FixError) Unwrap() error { return e.Err }

// Fix attaches a hint saying what to change to err. It returns nil when err
// is nil, so that it can wrap a call's result directly.
func Fix(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &FixError{Err: err, Hint: fmt.Sprintf(format, args...)}
}

// Hint returns the outermost fix hint attached to err, if any: the one
// added closest to the buildpack's main logic, which knows most about what
// the user was doing.
func Hint(err error) string {
	var fe *FixError
	if errors.As(err, &fe) {
		return fe.Hint
	}
	return ""
}
