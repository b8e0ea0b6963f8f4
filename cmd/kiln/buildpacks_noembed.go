//go:build !embedbuildpacks

package main

// buildpacksTarGz is empty in builds without the embedbuildpacks tag; kiln
// then reads its buildpacks from $KILN_BUILDPACKS or a "buildpacks"
// directory next to the kiln binary (see findBuildpacks).
var buildpacksTarGz []byte

// buildpacksSum is empty without embedded buildpacks.
var buildpacksSum string
