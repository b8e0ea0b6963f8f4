// Package extract unpacks untrusted archives beneath a directory, the one
// safe-extraction core of kiln: internal/archive extracts image layers
// with it (whiteouts, owners) and buildpacks/internal/unpack the archives
// buildpacks download (compressed tars, zips, stripped components).
//
// Every file system call goes through an os.Root of the destination, so no
// entry name ("..", absolute), symlink (written through) or hardlink
// (target) can reach outside it.
package extract
