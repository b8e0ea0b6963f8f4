// Package provenance makes the SLSA v1 provenance of a kiln build
// (https://slsa.dev/spec/v1.0/provenance): the predicate of the in-toto
// statement that package sign attaches to a published image.
//
// What the build knows and the image does not say (the builder as named
// and its digest, the source directory, the names of the build-time env)
// comes in a Build the build fills; the run image and the buildpacks are
// read from the image's CNB labels. The source is a git commit and remote
// when the source directory is a git checkout (asked of the git CLI with
// hooks and fsmonitor off), else a digest of the tree.
package provenance
