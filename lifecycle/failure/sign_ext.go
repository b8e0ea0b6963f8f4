package failure

// Exit codes of signing and verification (kiln sign, kiln verify, and
// kiln build/rebase --sign-key), in the band 90-99 the platform spec
// leaves unused.
const (
	VerifyFailed = 90 // kiln verify: a signature, attestation or policy check failed
	SignError    = 91 // the key could not be read, or signing or attaching failed
)
