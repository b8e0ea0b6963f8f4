// Package beneath reads and inspects files below a root directory that
// untrusted code wrote (a build's layers, workspace and platform dirs)
// without ever following a symbolic link: every path is resolved beneath
// its root with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), so a link
// planted anywhere on the way, or at the end, is an error that names it
// instead of a way out to the host's files. Opens never block on a FIFO,
// and reads are capped.
//
// Use it on the host side of a build for every file the build container
// could have written; a file the host itself made and no build touched can
// be read with the os package.
package beneath
