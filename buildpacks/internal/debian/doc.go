// Package debian installs Debian packages into a buildpack layer without
// dpkg or root: it reads a suite's signed InRelease (checked with gpgv
// against the Debian archive keyring), fetches the Packages index by its
// hash, resolves the dependency closure of the packages asked for
// (leaving out what every Debian system has: Essential packages and the C
// library), downloads the .deb files, checks their SHA-256, and unpacks
// their data members into the layer. Maintainer scripts are not run.
package debian
