package main

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// launcherBin is the launcher built by TestMain exactly as the Makefile
// builds it (see doc.go).
var launcherBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "launcher-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	launcherBin = filepath.Join(dir, "launcher")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w -buildid=", "-o", launcherBin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the launcher: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// probeVars are the variables the probe program reports.
var probeVars = []string{
	"GREETING", "OVR", "LIST", "ONLY_WEB", "BASEKEEP", "EXECD_SEEN", "WEB_EXECD",
	"PROFILE", "PATH", "LD_LIBRARY_PATH", "CNB_LAYERS_DIR", "CNB_APP_DIR",
	"CNB_PROCESS_TYPE", "CNB_EXEC_ENV",
}

// probe prints its arguments, working directory and probeVars, one
// "key=value" line each; unset variables print as <unset>.
var probe = "#!/bin/sh\n" +
	"printf 'args='; for a in \"$@\"; do printf '[%s]' \"$a\"; done; echo\n" +
	"echo \"pwd=$(pwd)\"\n" +
	"for v in " + strings.Join(probeVars, " ") + "; do eval \"val=\\${$v-'<unset>'}\"; echo \"$v=$val\"; done\n"

const metadataTOML = `buildpack-default-process-type = "web"

[[buildpacks]]
id = "acme/node"
version = "1.0.0"
api = "0.12"

[[buildpacks]]
id = "late"
version = "1.0.0"
api = "0.12"

[[buildpacks]]
id = "old"
version = "0.1.0"
api = "0.8"

[[processes]]
type = "web"
command = ["probe", "--fixed"]
args = ["default-arg"]
direct = true
buildpack-id = "acme/node"

[[processes]]
type = "worker"
command = ["probe"]
direct = true
working-dir = "jobs"
buildpack-id = "late"

[[processes]]
type = "tests"
command = ["probe"]
direct = true
exec-env = ["test"]
buildpack-id = "late"

[[processes]]
type = "legacy"
command = ["echo legacy $GREETING"]
args = ["a  b"]
direct = false
buildpack-id = "old"

[[processes]]
type = "missing"
command = ["no-such-command"]
direct = true
buildpack-id = "late"

[[processes]]
type = "pid"
command = ["sh", "-c", "echo $$"]
direct = true
buildpack-id = "late"

[[processes]]
type = "sleeper"
command = ["sh", "-c", "trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.05; done"]
direct = true
buildpack-id = "late"
`

// fixture is an app image laid out in a temp dir: <root>/layers,
// <root>/workspace and <root>/cnb/{lifecycle/launcher,process/<type>}.
type fixture struct {
	root, layers, app, cnb string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	root := t.TempDir()
	fx := &fixture{
		root:   root,
		layers: filepath.Join(root, "layers"),
		app:    filepath.Join(root, "workspace"),
		cnb:    filepath.Join(root, "cnb"),
	}
	writeTree(t, fx.layers, map[string]string{
		"config/metadata.toml": metadataTOML,

		"acme_node/node/bin/probe*":              probe,
		"acme_node/node/lib/":                    "",
		"acme_node/node/env/GREETING.default":    "hello",
		"acme_node/node/env/OVR":                 "node",
		"acme_node/node/env/LIST.append":         "node",
		"acme_node/node/env/LIST.delim":          ":",
		"acme_node/node/env/BASEKEEP.default":    "bp",
		"acme_node/node/env.launch/web/ONLY_WEB": "yes",
		"acme_node/node/exec.d/10-seen*":         "#!/bin/sh\nprintf 'EXECD_SEEN = \"%s\"\\n' \"$GREETING\" >&3\n",
		"acme_node/node/profile.d/a.sh":          "export PROFILE=node\n",
		"acme_node/deps/":                        "",
		"late/tools/bin/":                        "",
		"late/tools/env/OVR.override":            "late",
		"late/tools/env.launch/LIST.prepend":     "tools",
		"late/tools/env.launch/LIST.delim":       ",",
		"late/tools/exec.d/web/20-web*":          "#!/bin/sh\necho 'WEB_EXECD = \"w\"' >&3\n",
		"late/tools/profile.d/web/b.sh":          "export PROFILE=\"$PROFILE,web\"\n",
		"late/tools/profile.d/worker/c.sh":       "export PROFILE=\"$PROFILE,worker\"\n",
	})
	writeTree(t, fx.app, map[string]string{
		".profile": "export PROFILE=\"$PROFILE,app\"\n",
		"jobs/":    "",
	})
	if err := os.MkdirAll(filepath.Join(fx.cnb, "lifecycle"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(fx.cnb, "process"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(launcherBin, fx.launcher()); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"web", "worker", "tests", "legacy", "missing", "pid", "sleeper", "unknown"} {
		if err := os.Symlink(fx.launcher(), fx.process(typ)); err != nil {
			t.Fatal(err)
		}
	}
	return fx
}

func (fx *fixture) launcher() string          { return filepath.Join(fx.cnb, "lifecycle", "launcher") }
func (fx *fixture) process(typ string) string { return filepath.Join(fx.cnb, "process", typ) }

// env is the image environment the exporter would set, plus extra.
func (fx *fixture) env(extra ...string) []string {
	return append([]string{
		"CNB_LAYERS_DIR=" + fx.layers,
		"CNB_APP_DIR=" + fx.app,
		"CNB_PLATFORM_API=0.15",
		"PATH=/cnb/process:/usr/bin:/bin:/cnb/lifecycle/",
		"LIST=user",
		"BASEKEEP=user",
	}, extra...)
}

type result struct {
	stdout, stderr string
	code           int
}

func run(t *testing.T, env []string, path string, args ...string) result {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Dir = "/"
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("running %s: %v", path, err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

// parseProbe turns probe output into a map; lines that are not key=value
// (such as exec.d or shell output) go under "other".
func parseProbe(out string) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok || strings.ContainsAny(k, " []") {
			m["other"] += sc.Text() + "\n"
			continue
		}
		m[k] = v
	}
	return m
}

func TestLaunch(t *testing.T) {
	fx := newFixture(t)
	nodeBin := filepath.Join(fx.layers, "acme_node/node/bin")
	toolsBin := filepath.Join(fx.layers, "late/tools/bin")
	// The environment every buildpack process sees; cases list differences.
	common := map[string]string{
		"pwd":              fx.app,
		"GREETING":         "hello",
		"OVR":              "late",
		"LIST":             "tools,user:node",
		"ONLY_WEB":         "<unset>",
		"BASEKEEP":         "user",
		"EXECD_SEEN":       "hello",
		"WEB_EXECD":        "<unset>",
		"PROFILE":          "<unset>",
		"PATH":             toolsBin + ":" + nodeBin + ":/usr/bin:/bin",
		"LD_LIBRARY_PATH":  filepath.Join(fx.layers, "acme_node/node/lib"),
		"CNB_LAYERS_DIR":   "<unset>",
		"CNB_APP_DIR":      "<unset>",
		"CNB_PROCESS_TYPE": "<unset>",
		"CNB_EXEC_ENV":     "<unset>",
	}
	web := map[string]string{"ONLY_WEB": "yes", "WEB_EXECD": "w"}

	tests := []struct {
		name  string
		path  string
		args  []string
		extra []string
		want  map[string]string // merged over common
	}{
		{
			name: "process symlink with default args",
			path: fx.process("web"),
			want: merge(web, map[string]string{"args": "[--fixed][default-arg]"}),
		},
		{
			name: "user args replace args but keep command[1:]",
			path: fx.process("web"),
			args: []string{"one", "two words"},
			want: merge(web, map[string]string{"args": "[--fixed][one][two words]"}),
		},
		{
			name:  "symlink name wins over CNB_PROCESS_TYPE, which is removed",
			path:  fx.process("worker"),
			extra: []string{"CNB_PROCESS_TYPE=web"},
			want:  map[string]string{"args": "", "pwd": filepath.Join(fx.app, "jobs")},
		},
		{
			name: "launcher alone runs the default process",
			path: fx.launcher(),
			want: merge(web, map[string]string{"args": "[--fixed][default-arg]"}),
		},
		{
			name:  "launcher alone runs CNB_PROCESS_TYPE",
			path:  fx.launcher(),
			extra: []string{"CNB_PROCESS_TYPE=worker"},
			want:  map[string]string{"args": "", "pwd": filepath.Join(fx.app, "jobs")},
		},
		{
			name:  "exec-env restricted process in its environment",
			path:  fx.process("tests"),
			extra: []string{"CNB_EXEC_ENV=test"},
			want:  map[string]string{"args": "", "CNB_EXEC_ENV": "test"},
		},
		{
			name: "launcher -- runs the command directly without profiles",
			path: fx.launcher(),
			args: []string{"--", "probe", "$GREETING", "a  b"},
			want: map[string]string{"args": "[$GREETING][a  b]"},
		},
		{
			name: "launcher cmd runs through bash after profile.d and .profile",
			path: fx.launcher(),
			args: []string{`probe "$GREETING"`, "$GREETING", "a  b"},
			want: map[string]string{"args": "[hello][$GREETING][a  b]", "PROFILE": "node,app"},
		},
		{
			name:  "user-provided values win over defaults but not over overrides",
			path:  fx.launcher(),
			args:  []string{"--", "probe"},
			extra: []string{"GREETING=user", "OVR=user"},
			want:  map[string]string{"args": "", "GREETING": "user", "EXECD_SEEN": "user"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, fx.env(tt.extra...), tt.path, tt.args...)
			if res.code != 0 {
				t.Fatalf("exit code %d, stderr:\n%s", res.code, res.stderr)
			}
			want := merge(common, tt.want)
			got := parseProbe(res.stdout)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("probe output mismatch (-want +got):\n%s\nstderr:\n%s", diff, res.stderr)
			}
		})
	}
}

func TestLaunchShellProcessOfOldBuildpack(t *testing.T) {
	fx := newFixture(t)
	res := run(t, fx.env(), fx.process("legacy"), "c")
	if res.code != 0 {
		t.Fatalf("exit code %d, stderr:\n%s", res.code, res.stderr)
	}
	// Buildpack API 0.8, direct = false: bash evaluates the command, the
	// process's args and the user's are appended as literal words.
	if want := "legacy hello a  b c\n"; res.stdout != want {
		t.Errorf("stdout %q, want %q", res.stdout, want)
	}
}

func TestLaunchShellProcessWorkingDirAndProcessProfiles(t *testing.T) {
	fx := newFixture(t)
	// A shell process (Buildpack API 0.8, direct = false) with a
	// working-dir: profile.d/, profile.d/<type>/ and .profile are sourced
	// in the app dir, then the command runs in the working dir.
	md := strings.Replace(metadataTOML, `command = ["echo legacy $GREETING"]
args = ["a  b"]`, `command = ["echo \"$PROFILE $(basename $PWD)\""]
working-dir = "jobs"`, 1)
	md = strings.Replace(md, `type = "legacy"`, `type = "worker2"`, 1)
	writeTree(t, fx.layers, map[string]string{"config/metadata.toml": md})
	writeTree(t, fx.layers, map[string]string{"late/tools/profile.d/worker2/c.sh": "export PROFILE=\"$PROFILE,worker2@$(basename \"$PWD\")\"\n"})
	if err := os.Symlink(fx.launcher(), fx.process("worker2")); err != nil {
		t.Fatal(err)
	}
	res := run(t, fx.env(), fx.process("worker2"))
	if res.code != 0 {
		t.Fatalf("exit code %d, stderr:\n%s", res.code, res.stderr)
	}
	if want := "node,worker2@workspace,app jobs\n"; res.stdout != want {
		t.Errorf("stdout %q, want %q", res.stdout, want)
	}
}

func TestLaunchFailures(t *testing.T) {
	tests := []struct {
		name     string
		path     func(*fixture) string
		args     []string
		extra    []string
		files    map[string]string // written into the layers dir first
		remove   string            // removed from the fixture first
		wantCode int
		wantErr  string
	}{
		{
			name:     "unknown process type",
			path:     func(fx *fixture) string { return fx.process("unknown") },
			wantCode: 81,
			wantErr:  `unknown process type "unknown"`,
		},
		{
			name:     "unknown CNB_PROCESS_TYPE",
			path:     func(fx *fixture) string { return fx.launcher() },
			extra:    []string{"CNB_PROCESS_TYPE=nope"},
			wantCode: 81,
			wantErr:  `unknown process type "nope"`,
		},
		{
			name:     "process not eligible for the execution environment",
			path:     func(fx *fixture) string { return fx.process("tests") },
			wantCode: 81,
			wantErr:  `CNB_EXEC_ENV is "production"`,
		},
		{
			name:     "no default process",
			path:     func(fx *fixture) string { return fx.launcher() },
			files:    map[string]string{"config/metadata.toml": strings.Replace(metadataTOML, `buildpack-default-process-type = "web"`, "", 1)},
			wantCode: 81,
			wantErr:  "no default process",
		},
		{
			name:     "command not found",
			path:     func(fx *fixture) string { return fx.process("missing") },
			wantCode: 83,
			wantErr:  `command "no-such-command" not found`,
		},
		{
			name:     "user command not found",
			path:     func(fx *fixture) string { return fx.launcher() },
			args:     []string{"--", "./nothing-here"},
			wantCode: 83,
			wantErr:  "./nothing-here",
		},
		{
			name:     "missing working directory",
			path:     func(fx *fixture) string { return fx.process("worker") },
			remove:   "workspace/jobs",
			wantCode: 83,
			wantErr:  "workspace/jobs",
		},
		{
			name:     "failing exec.d",
			path:     func(fx *fixture) string { return fx.process("web") },
			files:    map[string]string{"late/tools/exec.d/web/30-fail*": "#!/bin/sh\necho exec.d broke >&2\nexit 4\n"},
			wantCode: 82,
			wantErr:  "30-fail",
		},
		{
			name:     "exec.d writing bad TOML",
			path:     func(fx *fixture) string { return fx.process("web") },
			files:    map[string]string{"late/tools/exec.d/30-bad*": "#!/bin/sh\necho 'X = [1]' >&3\n"},
			wantCode: 82,
			wantErr:  "30-bad",
		},
		{
			name:     "malformed metadata.toml",
			path:     func(fx *fixture) string { return fx.process("web") },
			files:    map[string]string{"config/metadata.toml": "[[processes]\n"},
			wantCode: 80,
			wantErr:  "metadata.toml",
		},
		{
			name:     "unsupported platform API",
			path:     func(fx *fixture) string { return fx.process("web") },
			extra:    []string{"CNB_PLATFORM_API=0.99"},
			wantCode: 11,
			wantErr:  "CNB_PLATFORM_API=0.99",
		},
		{
			name:     "unsupported buildpack API",
			path:     func(fx *fixture) string { return fx.process("web") },
			files:    map[string]string{"config/metadata.toml": strings.Replace(metadataTOML, `api = "0.8"`, `api = "0.4"`, 1)},
			wantCode: 12,
			wantErr:  "buildpack old uses Buildpack API 0.4",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			writeTree(t, fx.layers, tt.files)
			if tt.remove != "" {
				if err := os.RemoveAll(filepath.Join(fx.root, tt.remove)); err != nil {
					t.Fatal(err)
				}
			}
			res := run(t, fx.env(tt.extra...), tt.path(fx), tt.args...)
			if res.code != tt.wantCode || !strings.Contains(res.stderr, tt.wantErr) || !strings.HasPrefix(res.stderr, "launcher: ") && !strings.Contains(res.stderr, "\nlauncher: ") {
				t.Errorf("exit code %d, stderr %q; want code %d and a launcher error containing %q", res.code, res.stderr, tt.wantCode, tt.wantErr)
			}
			if strings.Contains(res.stdout, "args=") {
				t.Errorf("the process ran despite the failure:\n%s", res.stdout)
			}
		})
	}
}

func TestLaunchWithoutMetadataRunsUserCommands(t *testing.T) {
	fx := newFixture(t)
	if err := os.Remove(filepath.Join(fx.layers, "config/metadata.toml")); err != nil {
		t.Fatal(err)
	}
	res := run(t, fx.env(), fx.launcher(), "echo", "no", "metadata")
	if res.code != 0 || res.stdout != "no metadata\n" {
		t.Errorf("got code %d, stdout %q, stderr %q; want 0 and \"no metadata\"", res.code, res.stdout, res.stderr)
	}
}

func TestLaunchExitCodeIsTheProcesses(t *testing.T) {
	fx := newFixture(t)
	for _, args := range [][]string{{"--", "sh", "-c", "exit 42"}, {"exit 42"}} {
		if res := run(t, fx.env(), fx.launcher(), args...); res.code != 42 {
			t.Errorf("launcher %q: exit code %d, want 42; stderr %q", args, res.code, res.stderr)
		}
	}
}

// TestLaunchReplacesItself checks that the process keeps the launcher's PID,
// for direct and shell processes alike.
func TestLaunchReplacesItself(t *testing.T) {
	fx := newFixture(t)
	for _, tc := range []struct {
		path string
		args []string
	}{
		{fx.process("pid"), nil},
		{fx.launcher(), []string{"echo $$"}},
		{fx.launcher(), []string{"sh -c 'echo $$'"}},
	} {
		cmd := exec.Command(tc.path, tc.args...)
		cmd.Env = fx.env()
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %q: %v", tc.path, tc.args, err)
		}
		if got, want := strings.TrimSpace(string(out)), strconv.Itoa(cmd.Process.Pid); got != want {
			t.Errorf("%s %q: process PID %s, launcher PID %s", tc.path, tc.args, got, want)
		}
	}
}

// TestLaunchSignalReachesProcess sends SIGTERM to the launcher's PID and
// expects the app's own handler to run.
func TestLaunchSignalReachesProcess(t *testing.T) {
	fx := newFixture(t)
	cmd := exec.Command(fx.process("sleeper"))
	cmd.Env = fx.env()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || sc.Text() != "ready" {
		cmd.Process.Kill()
		t.Fatalf("process did not start: %q %v", sc.Text(), sc.Err())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var rest strings.Builder
	go func() {
		for sc.Scan() {
			rest.WriteString(sc.Text() + "\n")
		}
		done <- cmd.Wait()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("process did not exit after SIGTERM")
	}
	if rest.String() != "got TERM\n" || cmd.ProcessState.ExitCode() != 7 {
		t.Errorf("after SIGTERM: output %q, exit code %d; want \"got TERM\" and 7", rest.String(), cmd.ProcessState.ExitCode())
	}
}

// TestBinaryIsStaticAndSmall checks the build that doc.go prescribes.
func TestBinaryIsStaticAndSmall(t *testing.T) {
	f, err := elf.Open(launcherBin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the launcher is dynamically linked (program header %v)", p.Type)
		}
	}
	if f.Section(".symtab") != nil {
		t.Error("the launcher has a symbol table: build it with -ldflags=-s -w")
	}
	fi, err := os.Stat(launcherBin)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 6<<20 {
		t.Errorf("the launcher is %d bytes, want it under 6 MiB", fi.Size())
	}
}

// TestNoRegistryCode keeps registry libraries out of the launcher.
func TestNoRegistryCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "go-containerregistry") || strings.Contains(dep, "docker") ||
			strings.HasPrefix(dep, "net/http") || strings.Contains(dep, "lifecycle/imageio") {
			t.Errorf("the launcher depends on %s", dep)
		}
	}
}

func merge(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// writeTree writes files under root; a name ending in "*" is executable
// (the star is dropped), one ending in "/" is an empty directory.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, strings.TrimSuffix(name, "*"))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, "*") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBuildIsReproducible builds the launcher a second time and expects the
// same bytes, since every app image carries it as a layer.
func TestBuildIsReproducible(t *testing.T) {
	again := filepath.Join(t.TempDir(), "launcher")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w -buildid=", "-o", again, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the launcher again: %v\n%s", err, out)
	}
	a, err := os.ReadFile(launcherBin)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(again)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("two builds of the launcher differ")
	}
}
