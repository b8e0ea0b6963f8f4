// Package progress shows how far a long transfer has come, on one line of
// a terminal: bytes done of the total, the rate. On anything that is not
// a terminal (a pipe, a file, kiln serve's build log) it writes nothing,
// so logs stay plain; transfers smaller than MinBytes show nothing either.
//
// A push is one call (remote.Write) that reports its progress, drawn by a
// Line. A pull is not: images are read from a registry lazily, whenever
// something reads their layers (the local store taking them, a builder
// being unpacked, the run image being indexed). A Meter wraps the images
// read from a registry so that their layers count the compressed bytes
// read, and Track draws one line ("Pulling REF") for the reads of an
// image's layers between its call and the end it returns, around the
// code that reads them. Reads outside Track are counted by no line; a
// wrapped layer stays a *remote.MountableLayer, so pushes still mount it.
package progress
