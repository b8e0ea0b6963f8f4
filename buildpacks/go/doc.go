// Command build is kiln's Go buildpack (id kiln/go), bin/build and, through
// a symlink, bin/detect.
//
// Detection passes when the app has a go.mod. The build installs the Go
// toolchain that go.mod asks for (its toolchain line, else the newest
// patch release of its go line, else the newest release; BP_GO_VERSION
// overrides) from the Go module proxy as the module golang.org/toolchain,
// verified against the checksum database, into a cached build layer. The
// module and build caches (GOMODCACHE, GOCACHE) live in cached layers, so
// a rebuild compiles only what changed. The main packages (BP_GO_TARGETS,
// colon-separated, default: the root package or every cmd/<name>) are
// built with CGO_ENABLED=0 and BP_GO_BUILD_FLAGS into a launch layer; the
// first one is the default "web" process.
package main
