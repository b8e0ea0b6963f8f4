// Package labels holds the JSON shapes of the image labels that CNB tools
// read and write: the app image's io.buildpacks.lifecycle.metadata,
// io.buildpacks.build.metadata and io.buildpacks.project.metadata, the
// builder's io.buildpacks.builder.metadata, io.buildpacks.buildpack.order
// and io.buildpacks.buildpack.layers, and the base image labels. The shapes
// follow platform.md (Platform API 0.15) and what pack writes for builders,
// so pack, kpack and the CNB lifecycle read kiln's images and kiln reads
// theirs.
package labels
