package buildphase

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/internal/testutil"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/launch"
)

func req(name string, md map[string]any) descriptor.Require {
	return descriptor.Require{Name: name, Metadata: md}
}

func entry(name string, providers []string, requires ...descriptor.Require) descriptor.PlanEntry {
	e := descriptor.PlanEntry{Requires: requires}
	for _, p := range providers {
		e.Providers = append(e.Providers, descriptor.Provider{ID: p, Version: "0.0.1"})
	}
	return e
}

func TestPlanSplitting(t *testing.T) {
	f := newFixture(t)
	group := f.install(t,
		testBP{id: "kiln/a", build: dumpEnv + `printf '[[unmet]]\nname = "python"\n' > "$CNB_LAYERS_DIR/build.toml"` + "\n"},
		testBP{id: "kiln/b", build: dumpEnv},
		testBP{id: "kiln/c", build: dumpEnv + `printf '[[unmet]]\nname = "ruby"\n' > "$CNB_LAYERS_DIR/build.toml"` + "\n"},
	)
	plan := descriptor.Plan{Entries: []descriptor.PlanEntry{
		entry("node", []string{"kiln/a", "kiln/b"}, req("node", map[string]any{"version": "20"}), req("node", map[string]any{"build": true})),
		entry("go", []string{"kiln/b"}, req("go", nil)),
		entry("python", []string{"kiln/a", "kiln/c"}, req("python", map[string]any{"version": "3.11"})),
		entry("ruby", []string{"kiln/c"}, req("ruby", nil)),
		{Providers: []descriptor.Provider{{ID: "ext", Extension: true}, {ID: "kiln/b"}}, Requires: []descriptor.Require{req("tool", nil)}},
	}}
	var out bytes.Buffer
	if _, err := Run(context.Background(), f.options(group, plan, &out)); err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	want := map[string]descriptor.BuildpackPlan{
		"kiln_a": {Entries: []descriptor.Require{
			req("node", map[string]any{"version": "20"}), req("node", map[string]any{"build": true}),
			req("python", map[string]any{"version": "3.11"}),
		}},
		// node was met by kiln/a, so kiln/b does not get it; extensions are skipped.
		"kiln_b": {Entries: []descriptor.Require{req("go", nil), req("tool", nil)}},
		// python was unmet by kiln/a and moves on.
		"kiln_c": {Entries: []descriptor.Require{req("python", map[string]any{"version": "3.11"}), req("ruby", nil)}},
	}
	for dir, w := range want {
		got, err := descriptor.ReadBuildpackPlan(filepath.Join(f.obs, dir+".plan"))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(w, got); diff != "" {
			t.Errorf("plan of %s (-want +got):\n%s", dir, diff)
		}
	}
}

func TestPlanSplitterTable(t *testing.T) {
	plan := descriptor.Plan{Entries: []descriptor.PlanEntry{
		entry("x", []string{"a", "b", "c"}, req("x", nil)),
		entry("y", []string{"b"}, req("y", nil)),
	}}
	tests := []struct {
		name  string
		unmet map[string][]string // buildpack -> unmet names
		want  map[string][]string // buildpack -> names received
	}{
		{"all met", nil, map[string][]string{"a": {"x"}, "b": {"y"}, "c": nil}},
		{"x passed along twice", map[string][]string{"a": {"x"}, "b": {"x"}}, map[string][]string{"a": {"x"}, "b": {"x", "y"}, "c": {"x"}}},
		{"unmet by the last provider is dropped", map[string][]string{"b": {"y"}}, map[string][]string{"a": {"x"}, "b": {"y"}, "c": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newPlanSplitter(plan)
			got := map[string][]string{}
			for _, id := range []string{"a", "b", "c"} {
				a := s.take(id)
				var names []string
				for _, e := range a.plan.Entries {
					names = append(names, e.Name)
				}
				got[id] = names
				var unmet []launch.Unmet
				for _, n := range tt.unmet[id] {
					unmet = append(unmet, launch.Unmet{Name: n})
				}
				if err := s.settle(a, unmet, "build.toml"); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	s := newPlanSplitter(plan)
	a := s.take("a")
	if err := s.settle(a, []launch.Unmet{{Name: "y"}}, "/l/build.toml"); err == nil || !strings.Contains(err.Error(), "/l/build.toml") {
		t.Errorf("unmet outside the plan: err = %v, want one naming the file", err)
	}
}

func TestEnvironmentSeenByLaterBuildpacks(t *testing.T) {
	f := newFixture(t)
	testutil.WriteFile(t, filepath.Join(f.platform, "env", "PATH"), "/user/bin", 0o644)
	testutil.WriteFile(t, filepath.Join(f.platform, "env", "BP_USER"), "from-user", 0o644)
	testutil.WriteFile(t, filepath.Join(f.platform, "env", "OVERRIDDEN"), "user-wins", 0o644)
	testutil.WriteFile(t, filepath.Join(f.buildConfig, "env", "OPERATOR"), "op", 0o644)
	testutil.WriteFile(t, filepath.Join(f.buildConfig, "env", "DEF"), "operator-loses", 0o644)

	group := f.install(t,
		testBP{id: "kiln/first", build: dumpEnv + `
L="$CNB_LAYERS_DIR"
mkdir -p "$L/tools/bin" "$L/tools/lib" "$L/tools/include" "$L/tools/pkgconfig" "$L/tools/env" "$L/tools/env.build" "$L/alpha/bin" "$L/alpha/env"
printf '[types]\nbuild = true\n' > "$L/tools.toml"
printf '[types]\nbuild = true\ncache = true\n' > "$L/alpha.toml"
printf 'a' > "$L/tools/env/APPENDED.append"
printf ':' > "$L/tools/env/APPENDED.delim"
printf 'p' > "$L/tools/env/PREPENDED.prepend"
printf 'x' > "$L/tools/env/GLUED.append"
printf 'first-default' > "$L/tools/env/DEF.default"
printf 'first' > "$L/tools/env/OVERRIDDEN"
printf 'first' > "$L/tools/env/REPLACED.override"
printf 'only-build' > "$L/tools/env.build/BUILD_ONLY"
printf 'alpha' > "$L/alpha/env/FROM_ALPHA"
mkdir -p "$L/runtime/bin" "$L/runtime/env" "$L/cached/env"
printf '[types]\nlaunch = true\n' > "$L/runtime.toml"
printf 'no' > "$L/runtime/env/LAUNCH_ONLY"
printf '[types]\ncache = true\n' > "$L/cached.toml"
printf 'no' > "$L/cached/env/CACHE_ONLY"
`},
		testBP{id: "kiln/second", build: dumpEnv + `
L="$CNB_LAYERS_DIR"
mkdir -p "$L/more/bin" "$L/more/env"
printf '[types]\nbuild = true\n' > "$L/more.toml"
printf 'b' > "$L/more/env/APPENDED.append"
printf ',' > "$L/more/env/APPENDED.delim"
printf 'q' > "$L/more/env/PREPENDED.prepend"
printf 'y' > "$L/more/env/GLUED.append"
printf 'second-default' > "$L/more/env/DEF.default"
printf 'second' > "$L/more/env/REPLACED"
`},
		testBP{id: "kiln/third", build: dumpEnv},
		testBP{id: "kiln/clean", clearEnv: true, build: dumpEnv},
	)
	var out bytes.Buffer
	if _, err := Run(context.Background(), f.options(group, descriptor.Plan{}, &out)); err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	l := func(s string) string { return filepath.Join(f.layers, s) }

	first := readEnvDump(t, filepath.Join(f.obs, "kiln_first.env"))
	wantFirst := map[string]string{
		"PATH":                      "/user/bin:/usr/local/bin:/usr/bin:/bin",
		"HOME":                      "/home/cnb",
		"HOSTNAME":                  "buildhost",
		"https_proxy":               "http://proxy:3128",
		"FROM_IMAGE":                "image",
		"OBS":                       f.obs,
		"BP_USER":                   "from-user",
		"OVERRIDDEN":                "user-wins",
		"OPERATOR":                  "op",
		"DEF":                       "operator-loses",
		"CNB_LAYERS_DIR":            l("kiln_first"),
		"CNB_PLATFORM_DIR":          f.platform,
		"CNB_BUILDPACK_DIR":         filepath.Join(f.buildpacks, "kiln_first", "0.0.1"),
		"CNB_EXEC_ENV":              "production",
		"CNB_TARGET_OS":             "linux",
		"CNB_TARGET_ARCH":           "amd64",
		"CNB_TARGET_DISTRO_NAME":    "debian",
		"CNB_TARGET_DISTRO_VERSION": "12",
	}
	delete(first, "CNB_BP_PLAN_PATH") // a temporary file
	delete(first, "PWD")
	delete(first, "SHLVL")
	delete(first, "_")
	if diff := cmp.Diff(wantFirst, first); diff != "" {
		t.Errorf("first buildpack's environment (-want +got):\n%s", diff)
	}
	if pwd, _ := os.ReadFile(filepath.Join(f.obs, "kiln_first.pwd")); strings.TrimSpace(string(pwd)) != f.app {
		t.Errorf("working directory = %q, want %s", pwd, f.app)
	}

	third := readEnvDump(t, filepath.Join(f.obs, "kiln_third.env"))
	check := map[string]string{
		// user PATH first, then later buildpack before earlier, layers
		// of one buildpack ascending, then the image's PATH
		"PATH":            "/user/bin:" + l("kiln_second/more/bin") + ":" + l("kiln_first/alpha/bin") + ":" + l("kiln_first/tools/bin") + ":/usr/local/bin:/usr/bin:/bin",
		"LD_LIBRARY_PATH": l("kiln_first/tools/lib"),
		"LIBRARY_PATH":    l("kiln_first/tools/lib"),
		"CPATH":           l("kiln_first/tools/include"),
		"PKG_CONFIG_PATH": l("kiln_first/tools/pkgconfig"),
		"APPENDED":        "a,b",
		"PREPENDED":       "qp",
		"GLUED":           "xy",
		"DEF":             "first-default",
		"OVERRIDDEN":      "user-wins",
		"REPLACED":        "second",
		"BUILD_ONLY":      "only-build",
		"FROM_ALPHA":      "alpha",
		"CNB_LAYERS_DIR":  l("kiln_third"),
		"HOST_SECRET":     "",
		"LAUNCH_ONLY":     "",
		"CACHE_ONLY":      "",
	}
	for k, want := range check {
		if got := third[k]; got != want {
			t.Errorf("third buildpack: %s = %q, want %q", k, got, want)
		}
	}

	second := readEnvDump(t, filepath.Join(f.obs, "kiln_second.env"))
	if got, want := second["APPENDED"], "a"; got != want {
		t.Errorf("second buildpack: APPENDED = %q, want %q (its own layers must not apply)", got, want)
	}

	clean := readEnvDump(t, filepath.Join(f.obs, "kiln_clean.env"))
	for k, want := range map[string]string{
		"BP_USER":    "",
		"OVERRIDDEN": "first",
		"OPERATOR":   "op",
		"PATH":       l("kiln_second/more/bin") + ":" + l("kiln_first/alpha/bin") + ":" + l("kiln_first/tools/bin") + ":/usr/local/bin:/usr/bin:/bin",
		"APPENDED":   "a,b",
	} {
		if got := clean[k]; got != want {
			t.Errorf("clear-env buildpack: %s = %q, want %q", k, got, want)
		}
	}
}

// TestTargetEnvOnlyFromLifecycle checks that CNB_TARGET_* describe the run
// image alone: a stale value from the build image or the user's env files
// is replaced, or removed when the run image does not know it.
func TestTargetEnvOnlyFromLifecycle(t *testing.T) {
	f := newFixture(t)
	testutil.WriteFile(t, filepath.Join(f.platform, "env", "CNB_TARGET_OS"), "user", 0o644)
	testutil.WriteFile(t, filepath.Join(f.platform, "env", "CNB_TARGET_DISTRO_NAME"), "user", 0o644)
	group := f.install(t, testBP{id: "kiln/target", build: dumpEnv})
	var out bytes.Buffer
	opts := f.options(group, descriptor.Plan{}, &out)
	opts.BaseEnv = append(opts.BaseEnv, "CNB_TARGET_ARCH_VARIANT=stale", "CNB_TARGET_ARCH=stale")
	opts.Target = descriptor.RunTarget{OS: "linux", Arch: "amd64"}
	if _, err := Run(context.Background(), opts); err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	got := map[string]string{}
	for k, v := range readEnvDump(t, filepath.Join(f.obs, "kiln_target.env")) {
		if strings.HasPrefix(k, "CNB_TARGET_") {
			got[k] = v
		}
	}
	want := map[string]string{"CNB_TARGET_OS": "linux", "CNB_TARGET_ARCH": "amd64"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CNB_TARGET_* of bin/build (-want +got):\n%s", diff)
	}
}

func TestIgnoredLayers(t *testing.T) {
	f := newFixture(t)
	// a stale .ignore from an earlier build is replaced
	testutil.WriteFile(t, filepath.Join(f.layers, "kiln_a", "scratch.ignore", "stale"), "", 0o644)
	group := f.install(t,
		testBP{id: "kiln/a", build: `
L="$CNB_LAYERS_DIR"
mkdir -p "$L/scratch/bin" "$L/notoml/bin" "$L/keep" "$L/falsy/env"
printf '[metadata]\nv = "1"\n' > "$L/scratch.toml"
printf '[types]\nlaunch = false\nbuild = false\ncache = false\n' > "$L/falsy.toml"
printf 'x' > "$L/falsy/env/FALSY"
printf '[types]\nlaunch = true\n' > "$L/keep.toml"
printf '[types]\nlaunch = true\n' > "$L/reused.toml"
`},
		testBP{id: "kiln/b", build: dumpEnv},
	)
	var out bytes.Buffer
	if _, err := Run(context.Background(), f.options(group, descriptor.Plan{}, &out)); err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	dir := filepath.Join(f.layers, "kiln_a")
	var got []string
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		got = append(got, e.Name())
	}
	want := []string{"falsy.ignore", "falsy.toml", "keep", "keep.toml", "notoml.ignore", "reused.toml", "scratch.ignore", "scratch.toml"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("layers of kiln/a (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(dir, "scratch.ignore", "bin")); err != nil {
		t.Errorf("scratch.ignore does not hold the layer's contents: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "scratch.ignore", "stale")); err == nil {
		t.Error("stale scratch.ignore was not replaced")
	}
	b := readEnvDump(t, filepath.Join(f.obs, "kiln_b.env"))
	if strings.Contains(b["PATH"], "kiln_a") || b["FALSY"] != "" {
		t.Errorf("ignored layers reached the next buildpack: PATH=%q FALSY=%q", b["PATH"], b["FALSY"])
	}
}

func TestLayerOutputErrors(t *testing.T) {
	tests := []struct {
		name    string
		build   string
		sbom    []string
		plan    descriptor.Plan
		wantErr string // also the file the error must name, relative to the buildpack's layers dir
		file    string
	}{
		{
			name:    "top-level launch flag",
			build:   `mkdir "$CNB_LAYERS_DIR/l"; printf 'launch = true\n' > "$CNB_LAYERS_DIR/l.toml"`,
			wantErr: `top-level "launch"`, file: "l.toml",
		},
		{
			name:    "cache without directory",
			build:   `printf '[types]\ncache = true\n' > "$CNB_LAYERS_DIR/c.toml"`,
			wantErr: "cache = true but the layer directory", file: "c.toml",
		},
		{
			name:    "reserved layer name",
			build:   `mkdir "$CNB_LAYERS_DIR/store"`,
			wantErr: `may not be named "store"`, file: "store",
		},
		{
			name:    "undeclared SBOM format",
			build:   `echo '{}' > "$CNB_LAYERS_DIR/launch.sbom.spdx.json"`,
			sbom:    []string{"application/vnd.cyclonedx+json"},
			wantErr: "application/spdx+json is not declared in sbom-formats", file: "launch.sbom.spdx.json",
		},
		{
			name:    "unknown SBOM extension",
			build:   `echo '{}' > "$CNB_LAYERS_DIR/node.sbom.xml"`,
			sbom:    []string{"application/vnd.cyclonedx+json"},
			wantErr: `unknown SBOM extension "xml"`, file: "node.sbom.xml",
		},
		{
			name:    "bad exec-env in layer metadata",
			build:   `mkdir "$CNB_LAYERS_DIR/l"; printf '[types]\nlaunch = true\n[metadata]\nexec-env = "test"\n' > "$CNB_LAYERS_DIR/l.toml"`,
			wantErr: "exec-env", file: "l.toml",
		},
		{
			name:    "bad process type",
			build:   `printf '[[processes]]\ntype = "we b"\ncommand = ["x"]\n' > "$CNB_LAYERS_DIR/launch.toml"`,
			wantErr: "must match", file: "launch.toml",
		},
		{
			name:    "slice outside the app",
			build:   `printf '[[slices]]\npaths = ["../secret"]\n' > "$CNB_LAYERS_DIR/launch.toml"`,
			wantErr: "outside the app directory", file: "launch.toml",
		},
		{
			name:    "malformed build.toml",
			build:   `printf '[[unmet]\n' > "$CNB_LAYERS_DIR/build.toml"`,
			wantErr: "parsing", file: "build.toml",
		},
		{
			name:    "unmet entry not in plan",
			build:   `printf '[[unmet]]\nname = "ghost"\n' > "$CNB_LAYERS_DIR/build.toml"`,
			wantErr: `unmet entry "ghost" is not in the buildpack plan`, file: "build.toml",
		},
		{
			name:    "malformed store.toml",
			build:   `printf 'metadata = [' > "$CNB_LAYERS_DIR/store.toml"`,
			wantErr: "parsing", file: "store.toml",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			group := f.install(t,
				testBP{id: "kiln/bad", sbomFormats: tt.sbom, build: tt.build + "\n"},
				testBP{id: "kiln/after", build: "touch \"$OBS/after-ran\"\n"},
			)
			var out bytes.Buffer
			_, err := Run(context.Background(), f.options(group, tt.plan, &out))
			if err == nil {
				t.Fatal("Run succeeded")
			}
			file := filepath.Join(f.layers, "kiln_bad", tt.file)
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), file) {
				t.Errorf("err = %v\nwant one containing %q and naming %s", err, tt.wantErr, file)
			}
			if code := failure.Code(err); code != failure.BuildError {
				t.Errorf("exit code = %d, want %d", code, failure.BuildError)
			}
			if _, serr := os.Stat(filepath.Join(f.obs, "after-ran")); serr == nil {
				t.Error("the next buildpack ran after an invalid output")
			}
			if _, serr := os.Stat(filepath.Join(f.layers, "config", "metadata.toml")); serr == nil {
				t.Error("metadata.toml written by a failed build")
			}
		})
	}
}

func TestFailingBuildpack(t *testing.T) {
	f := newFixture(t)
	group := f.install(t,
		testBP{id: "kiln/ok", build: "echo compiling\n"},
		testBP{id: "kiln/broken", build: "echo 'about to fail'\necho 'boom: no toolchain' >&2\nprintf 'partial'\nexit 7\n"},
		testBP{id: "kiln/never", build: "touch \"$OBS/never-ran\"\n"},
	)
	var out bytes.Buffer
	_, err := Run(context.Background(), f.options(group, descriptor.Plan{}, &out))
	if err == nil {
		t.Fatal("Run succeeded")
	}
	if code := failure.Code(err); code != 51 {
		t.Errorf("exit code = %d, want 51", code)
	}
	var be *BuildpackError
	if !errors.As(err, &be) {
		t.Fatalf("err %v is not a *BuildpackError", err)
	}
	if diff := cmp.Diff(&BuildpackError{ID: "kiln/broken", Version: "0.0.1", ExitCode: 7}, be); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if !strings.Contains(err.Error(), "kiln/broken@0.0.1") || !strings.Contains(err.Error(), "exit code 7") {
		t.Errorf("error message %q lacks the buildpack or the code", err)
	}
	wantOut := "[kiln/ok] compiling\n[kiln/broken] about to fail\n[kiln/broken] boom: no toolchain\n[kiln/broken] partial\n"
	if diff := cmp.Diff(wantOut, out.String()); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(f.obs, "never-ran")); err == nil {
		t.Error("a buildpack after the failing one ran")
	}
}

func TestKilledBuildpack(t *testing.T) {
	f := newFixture(t)
	group := f.install(t, testBP{id: "kiln/killed", build: "kill -9 $$\n"})
	_, err := Run(context.Background(), f.options(group, descriptor.Plan{}, &bytes.Buffer{}))
	var be *BuildpackError
	if !errors.As(err, &be) || be.Signal != "killed" || failure.Code(err) != 51 {
		t.Fatalf("err = %v (%+v), want a BuildpackError for signal killed with code 51", err, be)
	}
}

func TestCancelledBuild(t *testing.T) {
	f := newFixture(t)
	group := f.install(t, testBP{id: "kiln/slow", build: "sleep 60 &\nwait\n"})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer cancel()
		for i := 0; i < 500; i++ { // bin/build has started once its layers dir exists
			if _, err := os.Stat(filepath.Join(f.layers, "kiln_slow")); err == nil {
				time.Sleep(50 * time.Millisecond)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	start := time.Now()
	_, err := Run(ctx, f.options(group, descriptor.Plan{}, &bytes.Buffer{}))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	var be *BuildpackError
	if errors.As(err, &be) {
		t.Errorf("cancellation reported as a buildpack failure: %v", be)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("Run returned %v after cancellation: the build's children were not killed", d)
	}
}

func TestLayersDirOwnedByRunningUser(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kiln_x")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() == 0 {
		// as root, hand the directory to someone else first
		if err := os.Chown(dir, 4321, 4321); err != nil {
			t.Fatal(err)
		}
	}
	if err := ensureOwnedDir(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != os.Getuid() {
		t.Errorf("owner = %d, want %d", st.Uid, os.Getuid())
	}
	if err := ensureOwnedDir(filepath.Join(dir, "new", "nested")); err != nil {
		t.Errorf("creating a nested layers dir: %v", err)
	}
}

func TestUnsupportedBuildpackAPI(t *testing.T) {
	f := newFixture(t)
	group := f.install(t, testBP{id: "kiln/old", api: "0.6", build: "true\n"})
	_, err := Run(context.Background(), f.options(group, descriptor.Plan{}, &bytes.Buffer{}))
	if failure.Code(err) != failure.BuildpackAPI {
		t.Fatalf("err = %v (code %d), want code %d", err, failure.Code(err), failure.BuildpackAPI)
	}
}

func TestMetadataToml(t *testing.T) {
	f := newFixture(t)
	group := f.install(t,
		testBP{id: "kiln/node", version: "1.2.3", build: `cat > "$CNB_LAYERS_DIR/launch.toml" <<'EOF'
[[labels]]
key = "org.example.lang"
value = "node"

[[labels]]
key = "org.example.owner"
value = "node-bp"

[[processes]]
type = "web"
command = ["node", "server.js"]
args = ["--port", "8080"]
default = true

[[processes]]
type = "worker"
command = ["node", "worker.js"]
working-dir = "jobs"
exec-env = ["production", "test"]

[[slices]]
paths = ["static/*"]
EOF
`},
		testBP{id: "kiln/procfile", build: `
# <layers> <platform> <plan> are given at API 0.12 too (as by the reference lifecycle)
test "$#" -eq 3 || { echo "want 3 positional args, got $#"; exit 1; }
test "$1" = "$CNB_LAYERS_DIR" && test "$2" = "$CNB_PLATFORM_DIR" && test "$3" = "$CNB_BP_PLAN_PATH" || exit 1
cat > "$CNB_LAYERS_DIR/launch.toml" <<EOF
[[labels]]
key = "org.example.owner"
value = "procfile-bp"

[[processes]]
type = "worker"
command = ["./bin/worker"]
working-dir = "/srv"

[[slices]]
paths = ["public/**", "` + "$PWD" + `/assets/*"]
EOF
`},
		testBP{id: "kiln/legacy", api: "0.7", build: `
test "$#" -eq 3 || { echo "want 3 positional args, got $#"; exit 1; }
test "$1" = "$CNB_LAYERS_DIR" && test "$2" = "$CNB_PLATFORM_DIR" && test "$3" = "$CNB_BP_PLAN_PATH"
printf '[[processes]]\ntype = "shell"\ncommand = "echo hi && sleep 1"\nargs = ["x"]\n' > "$1/launch.toml"
`},
	)
	var out bytes.Buffer
	res, err := Run(context.Background(), f.options(group, descriptor.Plan{}, &out))
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	want := launch.Metadata{
		BuildpackDefaultProcessType: "web",
		Buildpacks: []launch.MetadataBuildpack{
			{ID: "kiln/node", Version: "1.2.3", API: "0.12"},
			{ID: "kiln/procfile", Version: "0.0.1", API: "0.12"},
			{ID: "kiln/legacy", Version: "0.0.1", API: "0.7"},
		},
		Processes: []launch.MetadataProcess{
			{Type: "web", Command: []string{"node", "server.js"}, Args: []string{"--port", "8080"}, Direct: true, WorkingDir: f.app, ExecEnv: []string{"*"}, BuildpackID: "kiln/node"},
			{Type: "worker", Command: []string{"./bin/worker"}, Args: []string{}, Direct: true, WorkingDir: "/srv", ExecEnv: []string{"*"}, BuildpackID: "kiln/procfile"},
			{Type: "shell", Command: []string{"echo hi && sleep 1"}, Args: []string{"x"}, Direct: false, WorkingDir: f.app, ExecEnv: []string{"*"}, BuildpackID: "kiln/legacy"},
		},
		Slices: []launch.Slice{{Paths: []string{"static/*"}}, {Paths: []string{"public/**", f.app + "/assets/*"}}},
		Labels: []launch.Label{{Key: "org.example.lang", Value: "node"}, {Key: "org.example.owner", Value: "procfile-bp"}},
	}
	if diff := cmp.Diff(want, res.Metadata); diff != "" {
		t.Errorf("Result.Metadata (-want +got):\n%s", diff)
	}
	if res.MetadataPath != filepath.Join(f.layers, "config", "metadata.toml") {
		t.Errorf("MetadataPath = %s", res.MetadataPath)
	}
	onDisk, err := launch.ReadMetadata(res.MetadataPath)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, onDisk); diff != "" {
		t.Errorf("metadata.toml (-want +got):\n%s", diff)
	}
	raw, err := os.ReadFile(res.MetadataPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `buildpack-default-process-type = "web"`) {
		t.Errorf("metadata.toml lacks the default process type:\n%s", raw)
	}
}

func TestEmptyGroupWritesEmptyMetadata(t *testing.T) {
	f := newFixture(t)
	res, err := Run(context.Background(), f.options(nil, descriptor.Plan{}, &bytes.Buffer{}))
	if err != nil {
		t.Fatal(err)
	}
	want := launch.Metadata{Buildpacks: []launch.MetadataBuildpack{}, Processes: []launch.MetadataProcess{}, Slices: []launch.Slice{}, Labels: []launch.Label{}}
	if diff := cmp.Diff(want, res.Metadata); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := launch.ReadMetadata(res.MetadataPath); err != nil {
		t.Error(err)
	}
}

func TestSeveralBuildpackRoots(t *testing.T) {
	f := newFixture(t)
	group := f.install(t, testBP{id: "kiln/extra", build: "touch \"$OBS/extra-ran\"\n"})
	// move the buildpack to a second root, listed after an empty first one
	extra := filepath.Join(f.root, "extra")
	if err := os.Rename(f.buildpacks, extra); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(f.buildpacks, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := f.options(group, descriptor.Plan{}, &bytes.Buffer{})
	opts.BuildpacksDir = f.buildpacks + ":" + extra
	if _, err := Run(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.obs, "extra-ran")); err != nil {
		t.Errorf("buildpack in the second root did not run: %v", err)
	}
}
