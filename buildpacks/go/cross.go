package main

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"strings"

	"github.com/kiln-build/kiln/buildpacks/sdk"
)

// buildPlatformEnv is where kiln names the machine a build for a foreign
// platform runs on (os/arch), when the build container runs emulated.
const buildPlatformEnv = "KILN_BUILD_PLATFORM"

// toolchainArchs are the architectures whose Go toolchains the buildpack
// installs to run on the build machine.
var toolchainArchs = map[string]bool{"amd64": true, "arm64": true, "386": true, "ppc64le": true, "s390x": true, "riscv64": true}

// toolchainPlatform is the os and architecture of the Go toolchain to
// install and run: the build machine's, when kiln names it in
// KILN_BUILD_PLATFORM, so that the compiler runs natively (a static Go
// binary runs in any root file system) and cross-compiles with GOARCH, as
// ko does, instead of running under qemu emulation with the buildpack;
// else the buildpack's own.
func toolchainPlatform(getenv func(string) string) (goos, goarch string) {
	goos, goarch = runtime.GOOS, runtime.GOARCH
	parts := strings.Split(strings.TrimSpace(getenv(buildPlatformEnv)), "/")
	if len(parts) >= 2 && parts[0] == "linux" && toolchainArchs[parts[1]] {
		return parts[0], parts[1]
	}
	return goos, goarch
}

// logCrossCompile says, when the app is built for another architecture
// than the toolchain's, which toolchain compiles it: `go env` of the
// installed go binary reports the platform it runs as.
func logCrossCompile(ctx context.Context, goBin string, env []string, targetArch string, log *sdk.Logger) error {
	cmd := exec.CommandContext(ctx, goBin, "env", "GOHOSTOS", "GOHOSTARCH")
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("running %s env: %w", goBin, err)
	}
	host := strings.Join(strings.Fields(string(out)), "/")
	if host == "linux/"+targetArch {
		return nil
	}
	log.Step("Cross-compiling for linux/%s with the %s Go toolchain (GOARCH=%s, no emulation)", targetArch, host, targetArch)
	return nil
}
