package buildphase

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/testutil"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// testBP describes a real shell-script buildpack written to disk.
type testBP struct {
	id, version, api string
	clearEnv         bool
	sbomFormats      []string
	// build is the body of bin/build (after "#!/bin/sh\nset -e\n").
	build string
}

// fixture is a temporary build-container layout.
type fixture struct {
	root, app, layers, platform, buildpacks, buildConfig, obs string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	root := t.TempDir()
	f := &fixture{
		root:        root,
		app:         filepath.Join(root, "workspace"),
		layers:      filepath.Join(root, "layers"),
		platform:    filepath.Join(root, "platform"),
		buildpacks:  filepath.Join(root, "cnb", "buildpacks"),
		buildConfig: filepath.Join(root, "cnb", "build-config"),
		obs:         filepath.Join(root, "obs"),
	}
	for _, d := range []string{f.app, f.layers, f.platform, f.buildpacks, f.obs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// install writes the buildpacks and returns the group that runs them.
func (f *fixture) install(t *testing.T, bps ...testBP) []descriptor.GroupEntry {
	t.Helper()
	var group []descriptor.GroupEntry
	for _, bp := range bps {
		if bp.version == "" {
			bp.version = "0.0.1"
		}
		if bp.api == "" {
			bp.api = "0.12"
		}
		dir := filepath.Join(f.buildpacks, descriptor.EscapeID(bp.id), bp.version)
		var toml strings.Builder
		toml.WriteString("api = \"" + bp.api + "\"\n[buildpack]\nid = \"" + bp.id + "\"\nversion = \"" + bp.version + "\"\n")
		if bp.clearEnv {
			toml.WriteString("clear-env = true\n")
		}
		if len(bp.sbomFormats) > 0 {
			toml.WriteString("sbom-formats = [\"" + strings.Join(bp.sbomFormats, "\", \"") + "\"]\n")
		}
		testutil.WriteFile(t, filepath.Join(dir, "buildpack.toml"), toml.String(), 0o644)
		testutil.WriteFile(t, filepath.Join(dir, "bin", "detect"), "#!/bin/sh\nexit 0\n", 0o755)
		testutil.WriteFile(t, filepath.Join(dir, "bin", "build"), "#!/bin/sh\nset -e\n"+bp.build, 0o755)
		group = append(group, descriptor.GroupEntry{ID: bp.id, Version: bp.version, API: bp.api})
	}
	return group
}

func (f *fixture) options(group []descriptor.GroupEntry, plan descriptor.Plan, out *bytes.Buffer) Options {
	return Options{
		AppDir:         f.app,
		LayersDir:      f.layers,
		PlatformDir:    f.platform,
		BuildpacksDir:  f.buildpacks,
		BuildConfigDir: f.buildConfig,
		Group:          group,
		Plan:           plan,
		BaseEnv:        []string{"PATH=/usr/local/bin:/usr/bin:/bin", "OBS=" + f.obs, "FROM_IMAGE=image"},
		HostEnv:        []string{"HOME=/home/cnb", "HOSTNAME=buildhost", "https_proxy=http://proxy:3128", "HOST_SECRET=leak"},
		Target:         descriptor.RunTarget{OS: "linux", Arch: "amd64", DistroName: "debian", DistroVersion: "12"},
		Output:         out,
	}
}

// readEnvDump parses a file written by `env -0`.
func readEnvDump(t *testing.T, p string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("buildpack did not record its environment: %v", err)
	}
	m := map[string]string{}
	for _, kv := range strings.Split(string(b), "\x00") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// dumpEnv is a bin/build snippet recording the environment and cwd.
const dumpEnv = `env -0 > "$OBS/$(basename "$CNB_LAYERS_DIR").env"
pwd > "$OBS/$(basename "$CNB_LAYERS_DIR").pwd"
cp "$CNB_BP_PLAN_PATH" "$OBS/$(basename "$CNB_LAYERS_DIR").plan"
`
