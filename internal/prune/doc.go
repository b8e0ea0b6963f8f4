// Package prune keeps kiln's disk use bounded. Under kiln's cache dir it
// removes the work dirs that killed builds left (after their cached layer
// trees went back to their caches), the temp dirs of killed unpacks, and,
// least recently used first, app layer caches and unpacked root file
// systems until their total fits a cap; from the local image store it
// removes the blobs no image refers to any more.
//
// Nothing a running kiln uses is removed: layer caches and root file
// systems are locked by their users (flock, released even by kill -9) and
// pruning only takes those whose lock it can get without waiting; the
// others are reported as busy and still count towards the cap.
//
// Last use is the mtime of a file each user touches: <cache>/used for a
// layer cache, the root file system's directory for an unpacked image.
package prune
