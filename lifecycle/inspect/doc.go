// Package inspect describes CNB images for people and tools: an app image
// (io.buildpacks.lifecycle.metadata: buildpacks, processes, run image,
// base labels, layers and what each holds), a builder
// (io.buildpacks.builder.metadata: description, run images, build image
// labels, buildpacks, nested detection order) or a buildpackage
// (io.buildpacks.buildpackage.metadata). It reads labels, the config and
// the manifest only, never layer contents, so inspecting a registry image
// costs two small requests.
package inspect
