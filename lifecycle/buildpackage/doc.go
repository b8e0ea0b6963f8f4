// Package buildpackage reads and writes CNB buildpackages (Distribution
// API 0.3): an OCI image, or a .cnb file holding one as an uncompressed
// tar of an OCI image layout, with one layer per buildpack at
// /cnb/buildpacks/<id with / as _>/<version>/ and the labels
// io.buildpacks.buildpackage.metadata (the entrypoint buildpack) and
// io.buildpacks.buildpack.layers (every buildpack and its layer diffID).
//
// An image extension is packaged as pack packages one: a single layer at
// /cnb/extensions/<escaped id>/<version>/, listed in
// io.buildpacks.extension.layers (see ReadKind, Resolver.Kind).
//
// It also resolves the buildpack URIs that pack users write in
// package.toml and builder.toml (a directory, a buildpack tarball, a .cnb
// file or an image reference) into Buildpack values, each a descriptor
// with a ready layer. A buildpack read from a buildpackage keeps the layer
// it came in, byte for byte, so builders made from buildpackages share
// their diffIDs.
//
// Layers made here are reproducible: entries sorted, times fixed
// (archive.DefaultModTime unless told otherwise), owners root, so the same
// buildpack directory always gives the same layer and the same inputs the
// same buildpackage digest.
package buildpackage
