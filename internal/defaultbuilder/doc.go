// Package defaultbuilder makes kiln's default builder: the debian-bookworm
// stack (its build and run images) and kiln's first-party buildpacks, put
// into the local store as kiln/default-builder:latest the first time kiln
// build runs without --builder, and made again only when the stack recipe
// or the buildpacks change (a fingerprint label tells).
//
// The buildpacks come from $KILN_BUILDPACKS, else the tree embedded in the
// kiln binary by `make build`, else a "buildpacks" directory beside it.
package defaultbuilder
