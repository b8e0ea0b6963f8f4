// Package builder reads and writes CNB builder images in the format pack
// writes: buildpacks under /cnb/buildpacks/<escaped id>/<version>/, one
// layer each; image extensions likewise under /cnb/extensions (label
// io.buildpacks.extension.layers, the builder label's "extensions");
// /cnb/order.toml with its [[order-extensions]] (label
// io.buildpacks.buildpack.order-extensions); /cnb/run.toml (and the legacy
// /cnb/stack.toml); the labels io.buildpacks.builder.metadata,
// io.buildpacks.buildpack.order and io.buildpacks.buildpack.layers; and
// CNB_USER_ID / CNB_GROUP_ID in the image config.
//
// kiln runs its own lifecycle, so a builder's /cnb/lifecycle is ignored.
// Reading a builder unpacks its root file system once per image digest
// into kiln's cache; later builds reuse it.
package builder
