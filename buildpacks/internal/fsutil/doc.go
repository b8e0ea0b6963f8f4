// Package fsutil holds the file operations the buildpacks share: moving
// and copying files and directory trees between the app, the buildpack
// and layer directories (which may be different file systems) with links
// and modes kept, checking for regular files, replacing symbolic links,
// and hashing files for cache keys.
package fsutil
