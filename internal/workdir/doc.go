// Package workdir makes the per-build work directories under kiln's cache
// and removes those that a killed kiln left behind.
//
// Each work dir holds a lock file that its build keeps locked (flock) for
// as long as it runs. A process that is killed, kill -9 included, loses
// the lock with its life, so a work dir whose lock can be taken belongs to
// nobody: every Create removes such siblings first (after a hook, which
// kiln uses to move cached layer trees back into their cache), and never
// touches the dir of a build that is still running.
//
// Work dirs hold what untrusted build containers wrote: files of other
// owners, read-only directories, symlinks pointing anywhere. RemoveAll
// deletes such trees without following a link or leaving the file system
// it starts on, making read-only directories writable on the way, and
// DiskUsage measures them the same way.
package workdir
