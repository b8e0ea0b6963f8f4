package debian

import "runtime"

// ociPlatform is how a Debian architecture appears in an image config.
type ociPlatform struct{ arch, variant string }

// debianArchs maps Debian architecture names to OCI architectures.
var debianArchs = map[string]ociPlatform{
	"amd64":    {"amd64", ""},
	"arm64":    {"arm64", "v8"},
	"armhf":    {"arm", "v7"},
	"armel":    {"arm", "v5"},
	"i386":     {"386", ""},
	"ppc64el":  {"ppc64le", ""},
	"s390x":    {"s390x", ""},
	"riscv64":  {"riscv64", ""},
	"mips64el": {"mips64le", ""},
}

// hostArch returns the Debian name of the architecture kiln runs on.
func hostArch() string {
	switch runtime.GOARCH {
	case "arm":
		return "armhf"
	case "386":
		return "i386"
	case "ppc64le":
		return "ppc64el"
	case "mips64le":
		return "mips64el"
	default:
		return runtime.GOARCH
	}
}
