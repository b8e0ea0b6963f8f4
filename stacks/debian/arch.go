package debian

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
)

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

// ArchFor returns the Debian architecture of the OCI platform os/arch
// (variant): "linux/arm64" is arm64, "linux/arm/v7" armhf.
func ArchFor(os, arch, variant string) (string, error) {
	if os != "linux" {
		return "", fmt.Errorf("platform %s/%s: Debian stacks are linux only", os, arch)
	}
	if arch == "arm" && variant == "" {
		variant = "v7" // linux/arm means v7, as registries read it
	}
	debs := make([]string, 0, len(debianArchs))
	for deb := range debianArchs {
		debs = append(debs, deb)
	}
	sort.Strings(debs)
	var names []string
	for _, deb := range debs {
		p := debianArchs[deb]
		if p.arch == arch && (variant == "" || p.variant == "" || p.variant == variant) {
			return deb, nil
		}
		names = append(names, "linux/"+p.arch)
	}
	return "", fmt.Errorf("platform linux/%s: no Debian architecture for it (known: %s)", arch, strings.Join(names, ", "))
}

// QemuMissing says how to make a foreign architecture's programs run
// here, when the kernel cannot run them (no binfmt_misc registration for
// qemu user emulation); "" when it can or arch is the host's.
func QemuMissing(arch string) string {
	if arch == hostArch() {
		return ""
	}
	name, ok := qemuNames[arch]
	if !ok {
		name = arch
	}
	reg := "/proc/sys/fs/binfmt_misc/qemu-" + name
	data, err := os.ReadFile(reg)
	if err == nil && strings.HasPrefix(string(data), "enabled") {
		return ""
	}
	return fmt.Sprintf("building for %s needs qemu user emulation registered with the kernel (%s is missing or disabled): "+
		"install Debian's qemu-user-static and binfmt-support (make deps does), mount binfmt_misc "+
		"(mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc) and run update-binfmts --enable", arch, reg)
}

// qemuNames maps Debian architectures to qemu's names for them.
var qemuNames = map[string]string{
	"arm64": "aarch64", "armhf": "arm", "armel": "arm", "i386": "i386",
	"ppc64el": "ppc64le", "s390x": "s390x", "riscv64": "riscv64", "mips64el": "mips64el", "amd64": "x86_64",
}
