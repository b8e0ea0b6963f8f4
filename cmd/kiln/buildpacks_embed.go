//go:build embedbuildpacks

package main

import _ "embed"

// buildpacksTarGz holds kiln's first-party buildpacks, compiled by `make
// buildpacks` and packed (a gzip-compressed tar) by `make kiln`, so that a
// single kiln binary can make the default builder.
//
//go:embed buildpacks.tar.gz
var buildpacksTarGz []byte
