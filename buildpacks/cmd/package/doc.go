// Command package compiles kiln's buildpacks into a directory (default
// bin/buildpacks), one <name>/ each, ready to be put into a builder:
//
//	go run ./buildpacks/cmd/package [dir]
package main
