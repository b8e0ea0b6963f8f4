// Package cache keeps the layers buildpacks mark cache = true between
// builds of one app, in a directory under kiln's cache root:
//
//	<dir>/committed/metadata.json   what is cached, per buildpack and layer
//	<dir>/committed/<diffID>.tar    each cached layer's contents
//
// A save writes a complete new generation into <dir>/staging and swaps it
// in with renames, so a reader sees the old or the new cache, never half of
// one; a lock file serialises builds of the same app. A cached tar whose
// digest does not match its metadata is reported, skipped and replaced by
// the next save: a bad cache never fails a build.
package cache
