// Package selection decides what the launcher runs (platform.md §launcher):
// which process, its command and arguments, its working directory, and
// whether it is executed directly or through bash. It is pure logic on the
// launcher's argv and the processes recorded in metadata.toml.
package selection
