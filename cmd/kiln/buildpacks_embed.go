//go:build embedbuildpacks

package main

import _ "embed"

// buildpacksTarGz holds kiln's first-party buildpacks, compiled by `make
// buildpacks` and packed (a gzip-compressed tar) by `make kiln`, so that a
// single kiln binary can make the default builder.
//
//go:embed buildpacks.tar.gz
var buildpacksTarGz []byte

// buildpacksSum is the sha256 of buildpacksTarGz in hex, written by `make
// kiln` beside it: the default builder's fingerprint without hashing 17 MB
// on every run.
//
//go:embed buildpacks.tar.gz.sha256
var buildpacksSum string
