// Package buildphase runs the CNB build phase inside the build container:
// each buildpack of the detected group, in order, runs its bin/build with
// its share of the build plan and an environment made of the build image's
// variables, the earlier buildpacks' build layers and the platform's env
// files. After each buildpack the package checks what it wrote (layer
// metadata, reserved names, SBOM formats, launch.toml, build.toml,
// store.toml), hides its ignored layers, and finally merges all processes,
// labels and slices into <layers>/config/metadata.toml and copies the
// build-time SBOMs (build.sbom.<ext>, the SBOMs of layers that are not
// launch layers, build.toml's legacy [[bom]]) to <layers>/sbom/build (see
// internal/buildsbom).
//
// It only does file and process work; images and registries are the
// exporter's business. A buildpack that exits non-zero stops the build with
// a *BuildpackError wrapped in a failure.Error carrying exit code 51.
package buildphase
