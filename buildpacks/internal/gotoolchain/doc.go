// Package gotoolchain finds and installs Go toolchains the way the go
// command does when it switches toolchains: as versions of the module
// golang.org/toolchain (v0.0.1-go1.22.5.linux-amd64) from the Go module
// proxy (GOPROXY), with the zip's h1: hash checked against the checksum
// database (GOSUMDB, sum.golang.org by default, reached through the proxy
// when the proxy serves it; a short pinned list when the database cannot
// be reached), and the bin/ and pkg/tool/ files made executable after
// extraction.
package gotoolchain
