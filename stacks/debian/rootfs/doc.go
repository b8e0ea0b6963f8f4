// Package rootfs edits a root file system tarball without unpacking it and
// writes it back out as one reproducible image layer.
//
// Open indexes the headers of an uncompressed tar file on disk and remembers
// where each regular file's bytes live, so that even a large root file
// system costs only its headers in memory. The caller then removes entries,
// replaces the content of small files, adds or re-owns directories, and
// finally calls WriteTo, which emits the entries sorted by name with one
// fixed modification time, empty owner names, only extended attributes kept
// from the PAX records, and hard links re-pointed at whichever name of the
// group comes first.
package rootfs
