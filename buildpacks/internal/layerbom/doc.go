// Package layerbom writes the SBOM files of a buildpack's launch layer,
// <layers>/<layer>.sbom.cdx.json (CycloneDX 1.5) and
// <layers>/<layer>.sbom.spdx.json (SPDX 2.3), with internal/bom, and reads
// the components of a Go binary from its build information. A buildpack
// that uses it declares both formats in buildpack.toml's sbom-formats.
//
// The buildpacks write a layer's SBOM on every build, reused layer or
// not (the lifecycle does not restore SBOM files), from inputs that are
// cheap to read: a lockfile, a binary's build information, metadata kept
// in the layer's TOML.
package layerbom
