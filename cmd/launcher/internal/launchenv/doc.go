// Package launchenv builds the environment of an app process from an app
// image's launch layers, following buildpack.md §Environment and
// platform.md §launcher: the image environment is the base; each buildpack,
// in build order, adds its layers' bin and lib directories and env/,
// env.launch/ and env.launch/<process>/ files; then every exec.d program runs
// and its fd-3 output overrides variables. It also lists the profile scripts
// a shell process sources.
//
// The rules for single env directories and exec.d output live in
// internal/env; this package only knows the image layout.
package launchenv
