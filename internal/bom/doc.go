// Package bom writes software bills of materials in the two formats kiln
// emits, CycloneDX 1.5 JSON and SPDX 2.3 JSON, from one small model: a
// subject and a list of components with package URLs, licences and
// name/value properties.
//
// Output is reproducible: components are sorted, the timestamp is the
// one given (see [Created]), and the CycloneDX serial number and the
// SPDX document namespace are derived from the document's content, so
// equal input gives equal bytes. The CycloneDX side is written with
// github.com/CycloneDX/cyclonedx-go, the SPDX side with
// github.com/spdx/tools-golang, licence expressions are checked with
// github.com/github/go-spdx, and package URLs are built with
// github.com/package-url/packageurl-go.
//
// Both the first-party buildpacks (one document per launch layer) and
// lifecycle/sbom (the merged document of an app image) use it.
package bom
