//go:build embedbuildpacks

package main

import _ "embed"

// buildpacksTar holds kiln's first-party buildpacks, compiled by `make
// buildpacks` and packed by `make kiln`, so that a single kiln binary can
// make the default builder.
//
//go:embed buildpacks.tar
var buildpacksTar []byte
