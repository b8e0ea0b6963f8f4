// Package rebase swaps the run image underneath a CNB app image without
// rebuilding it, like the CNB "rebaser" (platform.md, "rebaser").
//
// The run image layers of an app image are its layers up to and including
// the one whose diffID the io.buildpacks.lifecycle.metadata label records
// as runImage.topLayer. Rebase replaces them with the new run image's
// layers and keeps every layer above byte for byte: the new image is made
// of the new run image's manifest entries plus the app's own, so writing it
// to the registry the layers already live in moves only a config and a
// manifest (go-containerregistry checks each blob with HEAD and mounts it
// across repositories), whatever the size of the app.
//
// The config is the app's, with what came from the base brought up to
// date: the io.buildpacks.base.* and io.buildpacks.stack.* labels, the
// target data (os, architecture, variant, os.version), the environment
// (the new base's variables, then the exporter's CNB_* variables, then
// PATH with /cnb/process in front, as the exporter writes it), the
// history of the base layers, and runImage.topLayer and
// runImage.reference in the lifecycle label. Entrypoint, command, working
// directory, user and every other label stay as they were.
//
// Unsafe rebases are refused unless forced: an app labelled
// io.buildpacks.rebasable=false, a run image with another os,
// architecture, variant or io.buildpacks.base.distro.*, and a run image
// named by the user that is neither the recorded run image nor one of its
// mirrors (compared by repository, so a new tag or digest of the recorded
// repository qualifies).
package rebase
