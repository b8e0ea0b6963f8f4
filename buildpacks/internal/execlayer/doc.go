// Package execlayer turns a shell-style command line into a process
// command for images without a shell: a line of plain words runs
// directly; any other line runs through kiln-exec (buildpacks/cmd/kiln-exec),
// which the buildpack copies from its bin/ into a launch layer of its own.
package execlayer
