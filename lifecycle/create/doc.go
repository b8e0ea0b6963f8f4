// Package create runs a whole build, like the CNB "creator": it opens the
// builder (unpacking its root file system once per digest), resolves the
// run image, lays out the build's workspace, layers and platform dirs,
// runs detect and build inside the build container (the static kiln binary
// drives them there, see cmd/kiln's hidden "phase" command), exports the
// app image on the host and writes it to its destination.
//
// Registry credentials never enter the container: everything that talks to
// a registry runs here, outside it. The work dir is removed afterwards, and
// the destination is written only after every earlier step succeeded.
package create
