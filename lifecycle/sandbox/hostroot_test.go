package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// hostRoot is a root file system that borrows the host's /usr read-only
// (bash, coreutils, util-linux, gcc, go, python, node, git, ...) for tests
// of real workloads, with testdata/escape built in at /kiln-test/escape.
// It lives beside rootfs, so TestMain removes it.
var hostRoot = sync.OnceValues(makeHostRoot)

const escapeBin = "/kiln-test/escape"

func makeHostRoot() (string, error) {
	root := filepath.Join(filepath.Dir(rootfs), "hostroot")
	for _, d := range []string{"usr", "etc/alternatives", "etc/ssl/certs", "proc", "dev", "sys", "tmp", "work", "kiln", "kiln-test"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return "", err
		}
	}
	// The host's merged-/usr links: /bin -> usr/bin and friends.
	for _, l := range []string{"bin", "sbin", "lib", "lib32", "lib64", "libx32"} {
		if target, err := os.Readlink("/" + l); err == nil {
			if err := os.Symlink(target, filepath.Join(root, l)); err != nil {
				return "", err
			}
		}
	}
	files := map[string]string{
		"etc/resolv.conf":                   "",
		"etc/hosts":                         "",
		"etc/ssl/certs/ca-certificates.crt": "",
		"kiln/ca-certificates.crt":          "",
		"etc/passwd":                        fmt.Sprintf("root:x:0:0:root:/root:/bin/sh\nbuilder:x:%d:%d::/tmp:/bin/sh\n", testUID, testGID),
		"etc/group":                         fmt.Sprintf("root:x:0:\nbuilder:x:%d:\n", testGID),
	}
	if b, err := os.ReadFile("/etc/ld.so.cache"); err == nil {
		files["etc/ld.so.cache"] = string(b)
	}
	for f, content := range files {
		if err := os.WriteFile(filepath.Join(root, f), []byte(content), 0o644); err != nil {
			return "", err
		}
	}
	goBin, err := exec.LookPath("go") // go test puts its own first on PATH
	if err != nil {
		return "", fmt.Errorf("finding the go command: %w", err)
	}
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", filepath.Join(root, escapeBin), "./testdata/escape")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building testdata/escape: %v\n%s", err, out)
	}
	return root, nil
}

// hostConfig is baseConfig on hostRoot, with a Go toolchain's environment.
func hostConfig(t *testing.T, d testDirs) Config {
	t.Helper()
	root, err := hostRoot()
	if err != nil {
		t.Fatalf("preparing the host root file system: %v", err)
	}
	cfg := baseConfig(t, d)
	cfg.RootFS = root
	cfg.Mounts = append(cfg.Mounts,
		Mount{Source: "/usr", Destination: "/usr", ReadOnly: true},
		Mount{Source: "/etc/alternatives", Destination: "/etc/alternatives", ReadOnly: true},
	)
	cfg.Env = []string{
		"PATH=" + goBinDir(t) + ":" + DefaultPath,
		"HOME=/tmp", "GOCACHE=/tmp/gocache", "GOPATH=/tmp/gopath", "GOTOOLCHAIN=local", "CGO_ENABLED=0",
	}
	return cfg
}

// goBinDir is the directory of the go command the tests run with.
func goBinDir(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("finding the go command: %v", err)
	}
	return filepath.Dir(goBin)
}
