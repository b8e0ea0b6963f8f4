// Package sbom collects the software bills of materials of a CNB app
// image into one document: the run image's package list (the layer the
// io.buildpacks.base.sbom label names, /cnb/sbom/*.cdx.json or
// *.spdx.json) and every buildpack SBOM in the app image's SBOM layer
// (the layer io.buildpacks.lifecycle.metadata's sbom.sha names, files
// <layers>/sbom/launch/<buildpack>/[<layer>/]sbom.<ext>). For each
// buildpack and layer a CycloneDX file is preferred to an SPDX one.
//
// Each component of the merged document carries where it came from:
// kiln:source (run-image or buildpack), kiln:layer (the diffID of the
// layer holding the software: the buildpack's layer, or the run image's
// SBOM layer), kiln:sbom-layer (the diffID of the layer the SBOM was read
// from), kiln:buildpack and kiln:buildpack-layer. [BOM.CycloneDX] writes
// CycloneDX 1.5 JSON, [BOM.SPDX] SPDX 2.3 JSON, both with internal/bom:
// the same image gives the same bytes.
//
// An image is hostile input: the SBOM layers are read with bounds (64 MiB
// per document, 256 MiB in all, 10,000 tar entries per layer), only
// directories and regular files at the expected paths are accepted, and
// every violation is an error naming the layer and the entry.
package sbom
