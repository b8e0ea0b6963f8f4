// Package testutil holds what the tests of several packages need alike:
// writing files and trees, random images, and go-containerregistry's
// in-process registry with a record of the blobs it served. Only tests
// import it; each helper fails the test on error.
package testutil
