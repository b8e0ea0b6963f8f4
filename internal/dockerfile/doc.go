// Package dockerfile reads the Dockerfiles image extensions generate
// (image_extension.md: run.Dockerfile, build.Dockerfile) with buildkit's
// Dockerfile parser, and chooses the run image they select as
// platform.md's detector does.
//
// kiln applies no Dockerfile instruction: a run.Dockerfile that only
// switches the run image (ARG, then FROM <image>) is honoured, as is one
// that keeps it (FROM ${base_image}); any instruction that would change
// an image (RUN, COPY, ADD, ENV, USER, ...) in a Dockerfile that would be
// applied is refused with an error naming the extension and the file.
// Everything here is outside input: files are bounded and errors name the
// line.
package dockerfile
