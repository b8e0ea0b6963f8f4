// Package runner runs one build of kiln serve on this machine: it lays
// out the source (an uploaded tarball, unpacked with the safe extractor,
// or a shallow git clone) and runs `kiln build --publish --report` as a
// subprocess, which brings the hardened sandbox (own network, seccomp,
// user namespace, limits, timeout). Cancelling its context sends the
// subprocess SIGINT (kiln cleans up and exits 130), then SIGKILL after a
// grace period.
package runner
