package failure

// Exit codes of the generate phase (image extensions), in the platform
// spec's generate band 91-99. The spec gives 91 to a failing
// bin/generate, but kiln's 91 is SignError, so that failure is 93.
const (
	GenerateError  = 92 // the phase failed, or the extensions asked for what kiln does not do (Dockerfile instructions)
	GenerateFailed = 93 // an extension's bin/generate exited non-zero
)
