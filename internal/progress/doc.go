// Package progress shows how far a long transfer (a push of an image to a
// registry) has come, on one line of a terminal: bytes done of the total,
// the rate, and the blobs done of all. On anything that is not a
// terminal (a pipe, a file, kiln serve's build log) it writes nothing,
// so logs stay plain; transfers smaller than MinBytes show nothing
// either.
package progress
