// Package release signs what kiln publishes: after a build (or a rebase)
// pushed an image, it attests the image's SLSA provenance (and, when an
// SBOM source is given, its CycloneDX SBOM) and then signs it, all in the
// layout cosign verifies. The signature comes last, so an image that
// carries kiln's signature also carries its attestations.
package release
