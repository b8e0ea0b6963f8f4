// Package generatephase runs the generate phase of image extensions
// (image_extension.md, Phase: Generation) inside the build container,
// between detect and build: each detected extension runs bin/generate
// <output> <platform> <plan> (or has its static generate/ files copied),
// writing run.Dockerfile, build.Dockerfile and extend-config.toml to
// <layers>/generated/<escaped id>/. The entries of the build plan the
// extensions were given are taken out of the plan the buildpacks get.
//
// What the extensions wrote is read by the host afterwards, as hostile
// input (see internal/dockerfile and lifecycle/create).
package generatephase
