// Package unpack extracts the archives kiln's buildpacks download (npm
// tarballs, Go toolchain module zips, the data part of Debian packages)
// into a layer directory, refusing any entry that would land outside it:
// absolute or ".." names, hard links to outside files, and writes through
// symbolic links that point outside.
package unpack
