// Package fsutil holds the file operations the buildpacks share: moving
// and copying directory trees between the app and layer directories
// (which may be different file systems) with links and modes kept, and
// hashing files for cache keys.
package fsutil
