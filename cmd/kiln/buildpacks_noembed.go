//go:build !embedbuildpacks

package main

// buildpacksTar is empty in builds without the embedbuildpacks tag; kiln
// then reads its buildpacks from $KILN_BUILDPACKS or a "buildpacks"
// directory next to the kiln binary (see openBuildpacks).
var buildpacksTar []byte
