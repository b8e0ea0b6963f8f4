// Package buildpacks is kiln's set of first-party Cloud Native Buildpacks
// (Buildpack API 0.12): Go, Node.js, Python, static sites and Procfile,
// one directory each (buildpacks/<name>, a buildpack.toml and a main
// package), with the SDK they share in buildpacks/sdk.
//
// This package lists them (Names, ID, DefaultOrder) and compiles them
// into directories a builder can hold (Package): <dir>/<name>/ with
// buildpack.toml, bin/build (a static binary) and bin/detect (a symlink to
// it). `make buildpacks` runs Package into bin/buildpacks.
//
// It does not import the lifecycle: its order is plain data that the
// builder code turns into order.toml.
package buildpacks
