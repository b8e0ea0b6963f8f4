package debian

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/kiln-build/kiln/buildpacks/internal/fetch"
)

// DefaultSuite is used when the run image's distribution version is
// unknown.
const DefaultSuite = "bookworm"

// debArch maps Go architecture names (CNB_TARGET_ARCH) to Debian's.
var debArch = map[string]string{
	"amd64": "amd64", "arm64": "arm64", "arm": "armhf", "386": "i386",
	"ppc64le": "ppc64el", "s390x": "s390x", "riscv64": "riscv64",
}

// ArchiveFor returns the archive that matches the run image described by
// CNB_TARGET_DISTRO_NAME, CNB_TARGET_DISTRO_VERSION and CNB_TARGET_ARCH.
// BP_DEBIAN_MIRROR, BP_DEBIAN_SUITE and BP_DEBIAN_KEYRING (read with
// getenv) override the mirror, the suite and the keyring.
func ArchiveFor(distroName, distroVersion, arch string, getenv func(string) string, fc *fetch.Client) (*Archive, error) {
	if distroName != "" && distroName != "debian" {
		return nil, fmt.Errorf("the run image's distribution is %q, but packages come from Debian", distroName)
	}
	suite := strings.TrimSpace(getenv("BP_DEBIAN_SUITE"))
	if suite == "" {
		switch {
		case distroVersion == "":
			suite = DefaultSuite
		default:
			major, _, _ := strings.Cut(distroVersion, ".")
			s, ok := Suites[major]
			if !ok {
				//lint:ignore ST1005 the message starts with a proper noun
				return nil, fmt.Errorf("Debian %s is not a release kiln knows; set BP_DEBIAN_SUITE to its code name", distroVersion)
			}
			suite = s
		}
	}
	if arch == "" {
		arch = runtime.GOARCH
	}
	da, ok := debArch[arch]
	if !ok {
		return nil, fmt.Errorf("architecture %q has no Debian equivalent", arch)
	}
	return &Archive{
		Mirror:  strings.TrimSpace(getenv("BP_DEBIAN_MIRROR")),
		Suite:   suite,
		Arch:    da,
		Keyring: strings.TrimSpace(getenv("BP_DEBIAN_KEYRING")),
		Fetch:   fc,
	}, nil
}
