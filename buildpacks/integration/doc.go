// Package integration tests kiln's buildpacks end to end without a
// container: the buildpacks are compiled with buildpacks.Package, the
// samples are detected with the default order (package detect) and built
// (package internal/buildphase) in temporary directories, with the real
// downloads from the Go module proxy, the npm registry and Debian's
// mirror. The built app's default process is then started with its launch
// environment and probed over HTTP. A second build, after a restore of
// the cached layers as the lifecycle's restorer would leave them, must
// reuse those layers and download nothing.
//
// Downloads are kept in $HOME/.cache/kiln-test/downloads (through
// BP_DOWNLOAD_CACHE), so only the first run on a machine fetches
// toolchains.
package integration
