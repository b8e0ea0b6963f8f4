// Package unpack extracts the archives kiln's buildpacks download (npm
// tarballs, Go toolchain module zips, the data part of Debian packages)
// into a layer directory, refusing any entry that would land outside it:
// absolute or ".." names, hard links to outside files, and writes through
// symbolic links that point outside.
//
// It adds what those downloads need (gzip, xz and zstd streams, zip files,
// stripped components, skipped subtrees, rebased absolute links, the build
// user's modes) as hooks on internal/extract, the safe-extraction core the
// lifecycle extracts image layers with; buildpacks never import lifecycle.
package unpack
