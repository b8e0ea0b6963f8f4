// Package create runs a whole build, like the CNB "creator": one step per
// phase, in order — analyze (the destination takes the image; the app's
// previous image, if any), builder (open it, unpacking its root file system
// once per digest), run image (one only local, for an app going to a
// registry, is pushed beside it at export and recorded there: see
// PublishedRunImage), prepare (the build's workspace, layers,
// platform and config dirs), detect and build (inside the build container:
// the static kiln binary drives them there, see cmd/kiln's hidden "phase"
// command), restore (the layer cache), export (the app image, written to
// its destination) and saving the cache. A builder with image extensions
// runs detect and generate in one container and build in another; in
// between the host reads what the extensions generated and may switch the
// run image (see detectGenerateBuild).
//
// The steps reach the outside only through small interfaces, so each phase
// and failure path is tested with fakes: Sandbox runs the containers
// (sandbox.Run, runc, by default), Images reads and writes images
// (*imageio.IO) and Log receives progress as Events and the buildpacks'
// output as bytes (TextLog prints kiln's "===> DETECTING" lines).
//
// Registry credentials never enter the container: everything that talks to
// a registry runs here, outside it. A previous image that exists but cannot
// be read fails the build (failure.AnalyzeError) rather than building cold.
// The work dir is removed afterwards, and the destination is written only
// after every earlier step succeeded; a cancelled build fails with
// failure.Interrupted, a timed-out one with failure.TimedOut.
package create
