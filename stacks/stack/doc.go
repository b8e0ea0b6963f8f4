// Package stack reads stack.toml, kiln's recipe for a CNB stack: one
// Debian-based build image and one run image that share a suite, a
// mirror, the CNB user and the base-image labels.
//
// A stack.toml has shared keys at the top level and two tables, [build]
// and [run], each turned into one debian.Recipe by Stack.Recipes:
//
//	id     = "io.kiln.stacks.debian-bookworm"   # io.buildpacks.base.id, io.buildpacks.stack.id
//	suite  = "bookworm"
//	mirror = "http://deb.debian.org/debian"
//	sources = ["deb http://deb.debian.org/debian-security bookworm-security main"]
//	user = "cnb"
//	uid  = 1000
//	[labels]
//	"io.buildpacks.base.maintainer" = "..."      # required
//	[build]
//	packages = ["bash", "gcc"]
//	[run]
//	variant  = "custom"
//	packages = ["libc6"]
//	remove   = ["/bin/*"]
//
// Build makes both images with stacks/debian and adds to each a layer
// holding a CycloneDX SBOM of the installed packages at /cnb/sbom/bom.cdx.json
// (see stacks/sbom), named by the io.buildpacks.base.sbom label, and the
// io.buildpacks.rebasable label.
package stack
