// Package cache keeps the layers buildpacks mark cache = true between
// builds of one app.
//
// The local cache lives in a directory under kiln's cache root:
//
//	<dir>/committed/metadata.json   what is cached, per buildpack and layer
//	<dir>/committed/<n>.d/          each cached layer's directory
//
// Layer directories move by rename: Save takes the finished build's cache
// layers as they are, Restore moves them back into the next build after
// checking their fingerprint (names, sizes, mtimes, modes, owners), and a
// build that fails gives back what it did not touch. No layer byte is
// copied or hashed on the way. A save writes a complete new generation into
// <dir>/staging and swaps it in with renames, so a reader sees the old or
// the new cache, never half of one; a lock file serialises builds of the
// same app. A cached layer that changed behind kiln's back is reported,
// skipped and replaced by the next save: a bad cache never fails a build.
//
// A build may be killed at any moment: it journals each tree it moves
// before moving it, keeps a copy of small trees aside, and the next holder
// of the lock (Open, or Reclaim before a dead build's work dir is removed)
// replays the journal, so the cache is as it was, or as the dead build
// would have saved it once its build phase had finished (journal.go).
// Evict and List serve kiln prune: last use is the mtime of <dir>/used.
//
// With WithImage the cache is also a registry image, written through the
// dir cache: one layer per cached layer (and deltas over it when it
// changed a little) and the index in the
// io.buildpacks.lifecycle.cache.metadata label. The committed index names
// the digest of the image its trees are: while the registry has that
// image, a build restores from the trees by rename and fetches no layer;
// otherwise it downloads the layers. Layers left unchanged since restore
// are taken from the previous cache image, so they are neither tarred nor
// uploaded again (image.go, delta.go).
//
// Launch layers that are also cached carry the diffID of the app image's
// layer, so the restore table of the platform spec (app image and cache
// must agree) holds.
package cache
