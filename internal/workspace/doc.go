// Package workspace prepares a build's workspace (the app source the build
// container sees at /workspace) at the cost of what changed since the
// app's previous build.
//
// A successful build hands its workspace tree back to the app's cache
// together with a manifest ([Keep]); the next build takes both in one
// rename ([Prepare]) and brings the tree in line with the source ([Sync]):
// entries whose source and workspace fingerprints both still match are
// kept, everything else is copied afresh, and what the source does not
// have is removed. The result is the tree a fresh archive.CopyDir with the
// same options makes, entry for entry: contents, modes, times, owners,
// symlinks, and the same symlinks and special files left out with the same
// reasons. Without a kept tree, Prepare makes that full copy.
//
// The manifest records, per path, the source entry's fingerprint when it
// was copied (type, mode, size, mtime, inode, device, ctime) and the
// workspace entry's right after the sync (type, mode, owner, size, mtime,
// inode, ctime, link count). ctime cannot be set from user space, so a
// build that rewrote a file and reset its mtime, changed its mode or
// extended attributes, or hard-linked it, is caught. The manifest is
// written only once the sync finished, after the file system clock has
// moved past every ctime it records, and never lies inside the tree a
// build container mounts.
//
// The kept tree was written by an untrusted build: it may hold symlinks
// where directories were, FIFOs, sockets, devices, hard links to files
// elsewhere, unreadable directories and trees thousands of levels deep.
// The sync walks it through directory file descriptors, with lstat only:
// it never follows a link, never opens anything in it but directories
// (O_NOFOLLOW), never writes through an existing inode (a new file is
// renamed over the old name), and removes subtrees without following
// links, without crossing into another file system and with a bounded
// number of open files however deep they go.
package workspace
