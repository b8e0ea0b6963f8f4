// Package flock takes advisory locks (flock(2)) on lock files that may be
// removed while others wait on them.
//
// A lock file that its holder deletes (to remove what it guards) must not
// hand the lock to a waiter that opened the old file: after each flock the
// package checks that the path still names the very file it locked, and
// starts over when it does not. So removing a lock file while holding it
// is safe, and kiln uses that to delete caches and root file systems
// nobody uses.
//
// The locks are released when the file is closed or the process dies,
// kill -9 included: a lock that can be taken tells that its last holder is
// gone.
package flock
