//go:build embedlauncher

package main

import _ "embed"

// launcherBinary is the static launcher built by `make kiln` from
// ./cmd/launcher and embedded so a single kiln binary is all a user needs.
//
//go:embed launcher.bin
var launcherBinary []byte
