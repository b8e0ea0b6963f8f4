// Package cnbtoml holds the schema of the TOML files a buildpack writes
// for the lifecycle — launch.toml and build.toml — and the rules the spec
// sets for them. It is the one definition shared by the buildpacks' SDK,
// which writes these files, and lifecycle/launch, which reads them:
// buildpacks/ may not import lifecycle/, so the types live here.
//
// Reading and writing the files stays with those packages.
package cnbtoml
