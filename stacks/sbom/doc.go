// Package sbom writes and reads the software bill of materials kiln puts
// into stack images: a CycloneDX 1.5 JSON document listing every installed
// Debian package with its version, architecture and package URL
// (pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=debian-VERSION).
//
// The document lives at /cnb/sbom/bom.cdx.json, in a layer of its own
// whose diffID the image's io.buildpacks.base.sbom label names; this is
// the place the CNB run-image SBOM proposals and Paketo's stacks use, so
// scanners and platforms find it without running the image. Layer makes
// that layer reproducibly: the same packages give the same bytes.
package sbom
