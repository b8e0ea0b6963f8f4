//go:build !embedlauncher

package main

// launcherBinary is empty in builds without the embedlauncher tag; kiln then
// reads the launcher from $KILN_LAUNCHER or a "launcher" file next to the
// kiln binary (see loadLauncher).
var launcherBinary []byte
