// Package sdk is the small library kiln's first-party buildpacks share. It
// implements the buildpack side of the Cloud Native Buildpacks Buildpack
// API 0.12: one binary serves as both bin/detect and bin/build (Main picks
// the phase from argv[0]), reads the CNB_* variables the lifecycle sets,
// writes the detect build plan, reads the buildpack plan, creates layers
// with their <layer>.toml ([types] and [metadata]), writes env files,
// launch.toml and build.toml, and decides whether a cached layer can be
// reused by comparing its restored metadata with a new key.
//
// Exit codes follow the spec: 0 for pass and success, 100 when detection
// fails (see Fail), and 1 for any other error, printed with what to fix
// (see Fix).
//
// The package depends on the standard library and BurntSushi/toml only, so
// that buildpacks stay small static binaries that any CNB lifecycle can run.
package sdk
