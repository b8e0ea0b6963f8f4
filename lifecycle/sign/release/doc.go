// Package release signs what kiln publishes: after a build (or a rebase)
// pushed an image, it attests the image's SLSA provenance (and, when an
// SBOM source is given, its CycloneDX SBOM) and then signs it, all in the
// layout cosign verifies. The signature comes last, so an image that
// carries kiln's signature also carries its attestations. A
// multi-platform image index (BuildIndex, RebaseIndex) has each image
// attested and signed so, then the index's own provenance and signature,
// last.
package release
