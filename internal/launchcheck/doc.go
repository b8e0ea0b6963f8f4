// Package launchcheck checks, after the build phase and before export,
// that every process of the app image can start: its command exists in
// the image (run image, launch layers or app dir, as the launcher's PATH
// finds it), a script's #! interpreter exists and can run, and the shared
// libraries an ELF program needs are in the run image or a launch layer.
//
// It works on the image's view of the files without running anything: the
// run image is indexed from its layers' tar headers (kept on disk per run
// image digest, so a rebuild reads a small JSON file), launch layers and
// the app dir are read from the host. What it cannot see (a launch layer
// the exporter reuses from the previous image without its contents) it
// trusts. A problem is a build failure naming the process, the missing
// piece and the fix, instead of a green build whose image never serves.
package launchcheck
