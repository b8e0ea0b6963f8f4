package detect

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/internal/testutil"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// envDump is a bin/detect body that records its arguments, working
// directory, the plan file's state and its whole environment.
const envDump = `
{
  echo "ARG1=$1"
  echo "ARG2=$2"
  echo "PWD=$(pwd)"
  if [ -f "$CNB_BUILD_PLAN_PATH" ] && [ ! -s "$CNB_BUILD_PLAN_PATH" ]; then echo "PLAN_FILE=empty"; fi
  env
} > "$DUMP_DIR/$(basename "$CNB_BUILDPACK_DIR")-$(basename "$(dirname "$CNB_BUILDPACK_DIR")").env"
`

func readDump(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("bin/detect left no dump: %v", err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

func TestProcessExecutorEnvironment(t *testing.T) {
	dumpDir := t.TempDir()
	w := newWorld(t)
	plainDir := w.add(t, bpSpec{id: "kiln/plain", script: envDump})
	clearDir := w.add(t, bpSpec{id: "kiln/clear", script: envDump, descriptor: "clear-env = true"})
	testutil.WriteFile(t, filepath.Join(w.platform, "env", "BP_GO_VERSION"), "1.23", 0o644)
	testutil.WriteFile(t, filepath.Join(w.platform, "env", "PATH"), "/user/bin", 0o644)
	testutil.WriteFile(t, filepath.Join(w.platform, "env", "HOME"), "/user/home", 0o644)
	testutil.WriteFile(t, filepath.Join(w.platform, "env", "CNB_EXEC_ENV"), "sneaky", 0o644)
	buildConfig := t.TempDir()
	testutil.WriteFile(t, filepath.Join(buildConfig, "env", "OPERATOR"), "set-by-operator", 0o644)
	testutil.WriteFile(t, filepath.Join(buildConfig, "env", "BP_GO_VERSION"), "operator-default", 0o644)

	e := &ProcessExecutor{
		BaseEnv: []string{"PATH=/usr/bin:/bin", "CNB_USER_ID=1001", "DUMP_DIR=" + dumpDir, "CNB_TARGET_OS=stale"},
		HostEnv: []string{"HOME=/home/kiln", "HOSTNAME=builder", "https_proxy=http://proxy:3128", "SECRET=do-not-pass", "PATH=/host/bin"},
		TempDir: t.TempDir(),
	}
	in := Inputs{
		AppDir:         w.app,
		PlatformDir:    w.platform,
		BuildConfigDir: buildConfig,
		Target:         descriptor.RunTarget{OS: "linux", Arch: "arm64", ArchVariant: "v8", DistroName: "debian", DistroVersion: "12"},
	}
	common := map[string]string{
		"ARG1":                      w.platform,
		"PWD":                       w.app,
		"PLAN_FILE":                 "empty",
		"CNB_PLATFORM_DIR":          w.platform,
		"CNB_EXEC_ENV":              "production",
		"CNB_TARGET_OS":             "linux",
		"CNB_TARGET_ARCH":           "arm64",
		"CNB_TARGET_ARCH_VARIANT":   "v8",
		"CNB_TARGET_DISTRO_NAME":    "debian",
		"CNB_TARGET_DISTRO_VERSION": "12",
		"CNB_USER_ID":               "1001",
		"HOSTNAME":                  "builder",
		"https_proxy":               "http://proxy:3128",
		"OPERATOR":                  "set-by-operator",
		"SECRET":                    "",
	}
	tests := []struct {
		name string
		dir  string
		want map[string]string
	}{
		{name: "platform env applied", dir: plainDir, want: map[string]string{
			"CNB_BUILDPACK_DIR": plainDir,
			"BP_GO_VERSION":     "1.23",
			"PATH":              "/user/bin:/usr/bin:/bin",
			"HOME":              "/user/home",
		}},
		{name: "clear-env keeps platform env out", dir: clearDir, want: map[string]string{
			"CNB_BUILDPACK_DIR": clearDir,
			"BP_GO_VERSION":     "operator-default",
			"PATH":              "/usr/bin:/bin",
			"HOME":              "/home/kiln",
		}},
	}
	planPaths := map[string]bool{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bp, err := descriptor.ReadBuildpack(tc.dir)
			if err != nil {
				t.Fatal(err)
			}
			o, err := e.Detect(context.Background(), bp, in)
			if err != nil {
				t.Fatal(err)
			}
			if o.Status != Pass {
				t.Fatalf("status = %v (%v), output:\n%s", o.Status, o.Err, o.Output)
			}
			got := readDump(t, filepath.Join(dumpDir, filepath.Base(tc.dir)+"-"+filepath.Base(filepath.Dir(tc.dir))+".env"))
			for k, v := range common {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			plan := got["CNB_BUILD_PLAN_PATH"]
			if plan == "" || got["ARG2"] != plan {
				t.Errorf("CNB_BUILD_PLAN_PATH = %q, second argument = %q: want the same non-empty path", plan, got["ARG2"])
			}
			if planPaths[plan] {
				t.Errorf("plan path %s reused across runs", plan)
			}
			planPaths[plan] = true
			if _, err := os.Stat(plan); !os.IsNotExist(err) {
				t.Errorf("plan file %s left behind (stat: %v)", plan, err)
			}
		})
	}
}

func TestProcessExecutorExecEnv(t *testing.T) {
	dumpDir := t.TempDir()
	w := newWorld(t)
	dir := w.add(t, bpSpec{id: "a", script: envDump})
	bp, err := descriptor.ReadBuildpack(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := &ProcessExecutor{BaseEnv: []string{"DUMP_DIR=" + dumpDir, "PATH=/usr/bin:/bin"}}
	if _, err := e.Detect(context.Background(), bp, Inputs{AppDir: w.app, PlatformDir: w.platform, ExecEnv: "test"}); err != nil {
		t.Fatal(err)
	}
	got := readDump(t, filepath.Join(dumpDir, "1.0.0-a.env"))
	if got["CNB_EXEC_ENV"] != "test" {
		t.Errorf("CNB_EXEC_ENV = %q, want test", got["CNB_EXEC_ENV"])
	}
	for _, k := range []string{"CNB_TARGET_OS", "CNB_TARGET_ARCH"} {
		if _, ok := got[k]; ok {
			t.Errorf("%s set although the target is unknown", k)
		}
	}
}

func TestProcessExecutorOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		spec       bpSpec
		api        string
		chmod      os.FileMode // bin/detect mode when not 0
		noDetect   bool
		maxOutput  int
		wantStatus Status
		wantCode   int
		wantOutput string
		wantPlan   descriptor.BuildPlan
		wantErr    string
	}{
		{name: "pass with plan", spec: bpSpec{id: "a", plan: "[[provides]]\nname = \"go\"\n[[or]]\n[[or.requires]]\nname = \"x\""},
			wantStatus: Pass, wantCode: 0,
			wantPlan: descriptor.BuildPlan{Provides: []descriptor.Provide{{Name: "go"}}, Or: []descriptor.PlanSections{{Requires: []descriptor.Require{{Name: "x"}}}}}},
		{name: "pass without plan", spec: bpSpec{id: "a"}, wantStatus: Pass, wantCode: 0},
		{name: "fail", spec: bpSpec{id: "a", exit: 100, output: "not mine"}, wantStatus: Fail, wantCode: 100, wantOutput: "not mine\n"},
		{name: "error 1", spec: bpSpec{id: "a", exit: 1}, wantStatus: Error, wantCode: 1, wantErr: "exited with code 1"},
		{name: "error 101", spec: bpSpec{id: "a", exit: 101}, wantStatus: Error, wantCode: 101, wantErr: "exited with code 101"},
		{name: "error 99", spec: bpSpec{id: "a", exit: 99}, wantStatus: Error, wantCode: 99, wantErr: "exited with code 99"},
		{name: "stdout and stderr interleaved", spec: bpSpec{id: "a", script: "echo one; echo two >&2; echo three; echo four >&2"},
			wantStatus: Pass, wantOutput: "one\ntwo\nthree\nfour\n"},
		{name: "killed by a signal", spec: bpSpec{id: "a", script: "kill -9 $$"}, wantStatus: Error, wantCode: -1, wantErr: "killed by signal killed"},
		{name: "unreadable plan", spec: bpSpec{id: "a", plan: "[[provides]\nname = 1"}, wantStatus: Error, wantCode: 0, wantErr: "plan.toml: line 1"},
		{name: "plan entry without name", spec: bpSpec{id: "a", plan: "[[requires]]\n[requires.metadata]\nv = 1"}, wantStatus: Error, wantCode: 0, wantErr: "[[requires]] #1: name is missing"},
		{name: "top-level version with API 0.12", spec: bpSpec{id: "a", plan: "[[requires]]\nname = \"go\"\nversion = \"1\""}, wantStatus: Error, wantErr: `"version" key is not allowed`},
		{name: "top-level version with API 0.9", spec: bpSpec{id: "a", api: "0.9", plan: "[[requires]]\nname = \"go\"\nversion = \"1\""},
			wantStatus: Pass, wantPlan: descriptor.BuildPlan{Requires: []descriptor.Require{{Name: "go", Metadata: map[string]any{"version": "1"}}}}},
		{name: "not executable", spec: bpSpec{id: "a"}, chmod: 0o644, wantStatus: Error, wantCode: -1, wantErr: "permission denied"},
		{name: "no bin/detect", spec: bpSpec{id: "a"}, noDetect: true, wantStatus: Error, wantCode: -1, wantErr: "no bin/detect executable"},
		{name: "output is capped", spec: bpSpec{id: "a", script: "i=0; while [ $i -lt 100 ]; do echo 0123456789; i=$((i+1)); done"}, maxOutput: 25,
			wantStatus: Pass, wantOutput: "0123456789\n0123456789\n012\n[output truncated after 25 bytes]\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			dir := w.add(t, tc.spec)
			bp, err := descriptor.ReadBuildpack(dir)
			if err != nil {
				t.Fatal(err)
			}
			if tc.chmod != 0 {
				if err := os.Chmod(filepath.Join(dir, "bin", "detect"), tc.chmod); err != nil {
					t.Fatal(err)
				}
			}
			if tc.noDetect {
				if err := os.Remove(filepath.Join(dir, "bin", "detect")); err != nil {
					t.Fatal(err)
				}
			}
			e := &ProcessExecutor{MaxOutput: tc.maxOutput, BaseEnv: []string{"PATH=/usr/bin:/bin"}}
			o, err := e.Detect(context.Background(), bp, Inputs{AppDir: w.app, PlatformDir: w.platform})
			if err != nil {
				t.Fatalf("Detect: %v", err)
			}
			if o.Status != tc.wantStatus || o.ExitCode != tc.wantCode {
				t.Errorf("status %v, exit code %d; want %v, %d (err %v, output %q)", o.Status, o.ExitCode, tc.wantStatus, tc.wantCode, o.Err, o.Output)
			}
			if tc.wantErr == "" && o.Err != nil {
				t.Errorf("unexpected Err %v", o.Err)
			}
			if tc.wantErr != "" && (o.Err == nil || !strings.Contains(o.Err.Error(), tc.wantErr)) {
				t.Errorf("Err = %v, want %q", o.Err, tc.wantErr)
			}
			if tc.wantOutput != "" {
				if diff := cmp.Diff(tc.wantOutput, string(o.Output)); diff != "" {
					t.Errorf("output mismatch (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff(tc.wantPlan, o.Plan); diff != "" {
				t.Errorf("plan mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestProcessExecutorDefaultBaseEnv(t *testing.T) {
	dumpDir := t.TempDir()
	t.Setenv("DUMP_DIR", dumpDir)
	t.Setenv("KILN_FROM_IMAGE", "yes")
	w := newWorld(t)
	dir := w.add(t, bpSpec{id: "a", script: envDump})
	bp, err := descriptor.ReadBuildpack(dir)
	if err != nil {
		t.Fatal(err)
	}
	var e ProcessExecutor // zero value: the process's own environment is the base
	o, err := e.Detect(context.Background(), bp, Inputs{AppDir: w.app, PlatformDir: w.platform})
	if err != nil || o.Status != Pass {
		t.Fatalf("Detect: %v, %v (%v)", o.Status, err, o.Err)
	}
	got := readDump(t, filepath.Join(dumpDir, "1.0.0-a.env"))
	if got["KILN_FROM_IMAGE"] != "yes" || got["PATH"] != os.Getenv("PATH") {
		t.Errorf("KILN_FROM_IMAGE = %q, PATH = %q: want the process environment", got["KILN_FROM_IMAGE"], got["PATH"])
	}
}
