package detect

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/internal/testutil"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/failure"
)

var linuxAMD64 = descriptor.RunTarget{OS: "linux", Arch: "amd64", DistroName: "debian", DistroVersion: "12"}

func pass(id string) bpSpec    { return bpSpec{id: id, exit: 0} }
func failing(id string) bpSpec { return bpSpec{id: id, exit: 100} }

func withPlan(s bpSpec, plan string) bpSpec { s.plan = plan; return s }

func TestRun(t *testing.T) {
	tests := []struct {
		name      string
		bps       []bpSpec
		order     string
		target    *descriptor.RunTarget
		execEnv   string
		wantGroup []string
		wantAPIs  []string
		wantPlan  descriptor.Plan
		wantRuns  []string
		wantCode  int      // 20 or 21 when no group passes
		wantText  []string // substrings of the error text
	}{
		{
			name:      "first passing group wins",
			bps:       []bpSpec{failing("a"), pass("b"), pass("c")},
			order:     "a | b | c",
			wantGroup: []string{"b@1.0.0"},
			wantRuns:  []string{"a@1.0.0", "b@1.0.0"},
		},
		{
			name:      "a failing required buildpack ends its group early",
			bps:       []bpSpec{failing("a"), pass("b"), pass("c")},
			order:     "a b | c b",
			wantGroup: []string{"c@1.0.0", "b@1.0.0"},
			wantRuns:  []string{"a@1.0.0", "c@1.0.0", "b@1.0.0"},
		},
		{
			name:      "group filtered to passing buildpacks, order kept",
			bps:       []bpSpec{pass("a"), failing("b"), pass("c"), failing("d")},
			order:     "a b? c d?",
			wantGroup: []string{"a@1.0.0", "c@1.0.0"},
			wantRuns:  []string{"a@1.0.0", "b@1.0.0", "c@1.0.0", "d@1.0.0"},
		},
		{
			name:      "at least one buildpack must pass",
			bps:       []bpSpec{failing("a"), failing("b"), pass("c")},
			order:     "a? b? | c",
			wantGroup: []string{"c@1.0.0"},
			wantRuns:  []string{"a@1.0.0", "b@1.0.0", "c@1.0.0"},
		},
		{
			name:      "each bin/detect runs once per phase",
			bps:       []bpSpec{pass("a"), failing("b"), pass("c")},
			order:     "a b | a b? | c",
			wantGroup: []string{"a@1.0.0"},
			wantRuns:  []string{"a@1.0.0", "b@1.0.0"},
		},
		{
			name: "nested composite: depth first, left to right",
			bps: []bpSpec{pass("e"), failing("a"), pass("b"), pass("f"),
				{id: "o", order: orderTOML("a | b")}},
			order:     "e o f",
			wantGroup: []string{"e@1.0.0", "b@1.0.0", "f@1.0.0"},
			wantRuns:  []string{"e@1.0.0", "a@1.0.0", "b@1.0.0", "f@1.0.0"},
		},
		{
			name: "an optional composite whose buildpacks fail leaves the rest of the group",
			bps: []bpSpec{failing("a"), failing("b"), pass("f"),
				{id: "o", order: orderTOML("a | b")}},
			order:     "o? f",
			wantGroup: []string{"f@1.0.0"},
			wantRuns:  []string{"a@1.0.0", "f@1.0.0"}, // [a? f] already passes as [f]
		},
		{
			name: "buildpacks inside an optional composite are optional",
			bps: []bpSpec{pass("a"), failing("b"), pass("f"),
				{id: "o", order: orderTOML("a b")}},
			order:     "o? f",
			wantGroup: []string{"a@1.0.0", "f@1.0.0"},
			wantRuns:  []string{"a@1.0.0", "b@1.0.0", "f@1.0.0"},
		},
		{
			name: "build plan resolves through an or alternative",
			bps: []bpSpec{
				withPlan(pass("node"), "[[provides]]\nname = \"node\""),
				withPlan(pass("npm"), "[[requires]]\nname = \"yarn\"\n[[or]]\n[[or.requires]]\nname = \"node\"\n[or.requires.metadata]\nversion = \"22\""),
			},
			order:     "node npm",
			wantGroup: []string{"node@1.0.0", "npm@1.0.0"},
			wantPlan: descriptor.Plan{Entries: []descriptor.PlanEntry{{
				Providers: []descriptor.Provider{{ID: "node", Version: "1.0.0"}},
				Requires:  []descriptor.Require{{Name: "node", Metadata: map[string]any{"version": "22"}}},
			}}},
			wantRuns: []string{"node@1.0.0", "npm@1.0.0"},
		},
		{
			name: "unresolvable plan fails the group, the next one is tried",
			bps: []bpSpec{
				withPlan(pass("a"), "[[provides]]\nname = \"x\""),
				pass("b"),
			},
			order:     "a b | b",
			wantGroup: []string{"b@1.0.0"},
			wantRuns:  []string{"a@1.0.0", "b@1.0.0"},
		},
		{
			name: "optional plan offender is dropped from the group",
			bps: []bpSpec{
				withPlan(pass("a"), "[[requires]]\nname = \"jdk\""),
				withPlan(pass("b"), "[[provides]]\nname = \"go\"\n[[requires]]\nname = \"go\""),
			},
			order:     "a? b",
			wantGroup: []string{"b@1.0.0"},
			wantPlan: descriptor.Plan{Entries: []descriptor.PlanEntry{{
				Providers: []descriptor.Provider{{ID: "b", Version: "1.0.0"}},
				Requires:  []descriptor.Require{{Name: "go"}},
			}}},
			wantRuns: []string{"a@1.0.0", "b@1.0.0"},
		},
		{
			name:     "a top-level version in a plan entry is an error since 0.11",
			bps:      []bpSpec{withPlan(pass("a"), "[[provides]]\nname = \"go\"\n[[requires]]\nname = \"go\"\nversion = \"1.22\"")},
			order:    "a",
			wantRuns: []string{"a@1.0.0"},
			wantCode: 21,
			wantText: []string{`a@1.0.0: error: build plan of a@1.0.0`, `top-level "version" key is not allowed`},
		},
		{
			name: "before 0.11 a top-level version moves into metadata",
			bps: []bpSpec{func() bpSpec {
				s := withPlan(pass("a"), "[[provides]]\nname = \"go\"\n[[requires]]\nname = \"go\"\nversion = \"1.22\"")
				s.api = "0.10"
				return s
			}()},
			order:     "a",
			wantGroup: []string{"a@1.0.0"},
			wantAPIs:  []string{"0.10"},
			wantPlan: descriptor.Plan{Entries: []descriptor.PlanEntry{{
				Providers: []descriptor.Provider{{ID: "a", Version: "1.0.0"}},
				Requires:  []descriptor.Require{{Name: "go", Metadata: map[string]any{"version": "1.22"}}},
			}}},
			wantRuns: []string{"a@1.0.0"},
		},
		{
			name: "required buildpack whose targets do not match fails without running",
			bps: []bpSpec{
				{id: "arm", descriptor: "[[targets]]\nos = \"linux\"\narch = \"arm64\""},
				pass("b"),
			},
			order:     "arm b | b",
			wantGroup: []string{"b@1.0.0"},
			wantRuns:  []string{"b@1.0.0"},
		},
		{
			name: "optional buildpack whose targets do not match is skipped",
			bps: []bpSpec{
				{id: "ubuntu", descriptor: "[[targets]]\nos = \"linux\"\n[[targets.distros]]\nname = \"ubuntu\""},
				pass("b"),
			},
			order:     "ubuntu? b",
			wantGroup: []string{"b@1.0.0"},
			wantRuns:  []string{"b@1.0.0"},
		},
		{
			name: "matching distro runs",
			bps: []bpSpec{
				{id: "deb", descriptor: "[[targets]]\nos = \"linux\"\narch = \"amd64\"\n[[targets.distros]]\nname = \"ubuntu\"\nversion = \"24.04\"\n[[targets.distros]]\nname = \"debian\"\nversion = \"12\""},
			},
			order:     "deb",
			wantGroup: []string{"deb@1.0.0"},
			wantRuns:  []string{"deb@1.0.0"},
		},
		{
			name:     "no targets: inferred linux does not match a windows run image",
			bps:      []bpSpec{pass("a")},
			order:    "a",
			target:   &descriptor.RunTarget{OS: "windows", Arch: "amd64"},
			wantCode: 20,
			wantText: []string{"a@1.0.0: skipped: no [[targets]] entry matches the run image", "1. a@1.0.0: a@1.0.0 does not support the run image windows/amd64"},
		},
		{
			name:      "buildpacks outside the execution environment are skipped",
			bps:       []bpSpec{pass("a"), {id: "t", descriptor: `exec-env = ["test"]`}},
			order:     "a t",
			wantGroup: []string{"a@1.0.0"},
			wantRuns:  []string{"a@1.0.0"},
		},
		{
			name:      "buildpacks for the execution environment run",
			bps:       []bpSpec{pass("a"), {id: "t", descriptor: `exec-env = ["test"]`}},
			order:     "a t",
			execEnv:   "test",
			wantGroup: []string{"a@1.0.0", "t@1.0.0"},
			wantRuns:  []string{"a@1.0.0", "t@1.0.0"},
		},
		{
			name: "no group passes: every result and output is listed, code 20",
			bps: []bpSpec{
				{id: "go", exit: 100, output: "no go.mod found", stderr: "looked in /workspace"},
				{id: "node", exit: 100},
				{id: "procfile", exit: 0, output: "found Procfile"},
			},
			order:    "go | procfile? node",
			wantRuns: []string{"go@1.0.0", "procfile@1.0.0", "node@1.0.0"},
			wantCode: 20,
			wantText: []string{
				"no buildpack group passed detection\n",
				"go@1.0.0: fail (exit code 100)\n    | no go.mod found\n    | looked in /workspace",
				"node@1.0.0: fail (exit code 100)\n    (no output)",
				"procfile@1.0.0: pass\n    | found Procfile",
				"1. go@1.0.0: go@1.0.0 failed",
				"2. procfile@1.0.0 (optional), node@1.0.0: node@1.0.0 failed",
			},
		},
		{
			name:     "an erroring buildpack makes it code 21",
			bps:      []bpSpec{{id: "a", exit: 3, output: "boom"}, failing("b")},
			order:    "a | b",
			wantRuns: []string{"a@1.0.0", "b@1.0.0"},
			wantCode: 21,
			wantText: []string{"(and a buildpack errored)", "a@1.0.0: error: ", "exited with code 3\n    | boom", "1. a@1.0.0: a@1.0.0 errored"},
		},
		{
			name:      "an erroring optional buildpack is dropped like a failing one",
			bps:       []bpSpec{{id: "a", exit: 101}, pass("b")},
			order:     "a? b",
			wantGroup: []string{"b@1.0.0"},
			wantRuns:  []string{"a@1.0.0", "b@1.0.0"},
		},
		{
			name:     "plan failure reason is reported",
			bps:      []bpSpec{withPlan(pass("a"), "[[requires]]\nname = \"jdk\"")},
			order:    "a",
			wantRuns: []string{"a@1.0.0"},
			wantCode: 20,
			wantText: []string{`1. a@1.0.0: build plan did not resolve: a@1.0.0 requires "jdk", which no buildpack before it provides`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, tc.bps...)
			target := linuxAMD64
			if tc.target != nil {
				target = *tc.target
			}
			var log bytes.Buffer
			res, err := Run(context.Background(), Options{
				Order:       parseOrder(tc.order),
				Buildpacks:  descriptor.NewLookup(w.root),
				AppDir:      w.app,
				PlatformDir: w.platform,
				ExecEnv:     tc.execEnv,
				Target:      target,
				Log:         &log,
			})
			if diff := cmp.Diff(tc.wantRuns, w.ranBuildpacks(t)); diff != "" {
				t.Errorf("bin/detect runs mismatch (-want +got):\n%s", diff)
			}
			if tc.wantCode != 0 {
				if err == nil {
					t.Fatalf("Run passed with group %v, want code %d", res.Group, tc.wantCode)
				}
				if got := failure.Code(err); got != tc.wantCode {
					t.Errorf("exit code = %d, want %d (error: %v)", got, tc.wantCode, err)
				}
				var ng *NoGroupError
				if !errors.As(err, &ng) || !errors.Is(err, ErrNoGroup) {
					t.Errorf("error %v is not a *NoGroupError matching ErrNoGroup", err)
				}
				if got, want := errors.Is(err, ErrBuildpackErrored), tc.wantCode == 21; got != want {
					t.Errorf("errors.Is(err, ErrBuildpackErrored) = %v, want %v", got, want)
				}
				for _, s := range tc.wantText {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error text lacks %q:\n%s", s, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Run: %v\nlog:\n%s", err, log.String())
			}
			var refs, apis []string
			for i, e := range res.Group {
				refs = append(refs, e.Ref())
				apis = append(apis, e.API)
				if res.Buildpacks[i].Ref() != e.Ref() {
					t.Errorf("Buildpacks[%d] = %s, want %s", i, res.Buildpacks[i].Ref(), e.Ref())
				}
			}
			if diff := cmp.Diff(tc.wantGroup, refs); diff != "" {
				t.Errorf("group mismatch (-want +got):\n%s", diff)
			}
			wantAPIs := tc.wantAPIs
			if wantAPIs == nil {
				for range tc.wantGroup {
					wantAPIs = append(wantAPIs, "0.12")
				}
			}
			if diff := cmp.Diff(wantAPIs, apis); diff != "" {
				t.Errorf("group APIs mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantPlan, res.Plan); diff != "" {
				t.Errorf("plan mismatch (-want +got):\n%s", diff)
			}
			for _, ref := range tc.wantGroup {
				if !strings.Contains(log.String(), "detected: "+ref+"\n") {
					t.Errorf("log lacks %q:\n%s", "detected: "+ref, log.String())
				}
			}
		})
	}
}

func TestRunWritesGroupAndPlan(t *testing.T) {
	w := newWorld(t,
		bpSpec{id: "kiln/go", version: "2.0.0", exit: 0, plan: "[[provides]]\nname = \"go\"", descriptor: `homepage = "https://example.com/go"`},
		bpSpec{id: "kiln/app", exit: 0, plan: "[[requires]]\nname = \"go\"\n[requires.metadata]\nversion = \"1.23\""},
	)
	res, err := Run(context.Background(), Options{
		Order:       parseOrder("kiln/go@2.0.0 kiln/app?"),
		Buildpacks:  descriptor.NewLookup(w.root),
		AppDir:      w.app,
		PlatformDir: w.platform,
		Target:      linuxAMD64,
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	groupPath, planPath := filepath.Join(dir, "group.toml"), filepath.Join(dir, "plan.toml")
	if err := res.WriteFiles(groupPath, planPath); err != nil {
		t.Fatal(err)
	}
	group, err := descriptor.ReadGroup(groupPath)
	if err != nil {
		t.Fatal(err)
	}
	wantGroup := []descriptor.GroupEntry{
		{ID: "kiln/go", Version: "2.0.0", API: "0.12", Homepage: "https://example.com/go"},
		{ID: "kiln/app", Version: "1.0.0", API: "0.12"},
	}
	if diff := cmp.Diff(wantGroup, group); diff != "" {
		t.Errorf("group.toml mismatch (-want +got):\n%s", diff)
	}
	plan, err := descriptor.ReadPlan(planPath)
	if err != nil {
		t.Fatal(err)
	}
	wantPlan := descriptor.Plan{Entries: []descriptor.PlanEntry{{
		Providers: []descriptor.Provider{{ID: "kiln/go", Version: "2.0.0"}},
		Requires:  []descriptor.Require{{Name: "go", Metadata: map[string]any{"version": "1.23"}}},
	}}}
	if diff := cmp.Diff(wantPlan, plan); diff != "" {
		t.Errorf("plan.toml mismatch (-want +got):\n%s", diff)
	}
	if n := len(res.Report.Buildpacks); n != 2 {
		t.Errorf("report has %d buildpack results, want 2", n)
	}
}

func TestRunErrors(t *testing.T) {
	w := newWorld(t, pass("a"), bpSpec{id: "new", api: "0.12"})
	// a buildpack declaring an API kiln does not implement
	newDir := filepath.Join(w.root, "new", "1.0.0")
	testutil.WriteFile(t, filepath.Join(newDir, "buildpack.toml"), "api = \"0.99\"\n[buildpack]\nid = \"new\"\nversion = \"1.0.0\"\n", 0o644)
	tests := []struct {
		name     string
		opts     Options
		wantCode int
		wantText string
	}{
		{name: "missing buildpack", opts: Options{Order: parseOrder("a missing")}, wantCode: failure.Generic, wantText: "missing@1.0.0"},
		{name: "unsupported buildpack API", opts: Options{Order: parseOrder("new")}, wantCode: failure.BuildpackAPI, wantText: "unsupported buildpack API"},
		{name: "exec env with a slash", opts: Options{Order: parseOrder("a"), ExecEnv: "a/b"}, wantCode: failure.Generic, wantText: "'/' is reserved"},
		{name: "empty order", opts: Options{}, wantCode: failure.DetectNoGroup, wantText: "no buildpack for this execution environment"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Buildpacks = descriptor.NewLookup(w.root)
			tc.opts.AppDir, tc.opts.PlatformDir = w.app, w.platform
			_, err := Run(context.Background(), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("error = %v, want %q", err, tc.wantText)
			}
			if got := failure.Code(err); got != tc.wantCode {
				t.Errorf("code = %d, want %d", got, tc.wantCode)
			}
		})
	}
}

func TestRunCancelled(t *testing.T) {
	w := newWorld(t, bpSpec{id: "slow", script: "sleep 30"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, Options{Order: parseOrder("slow"), Buildpacks: descriptor.NewLookup(w.root), AppDir: w.app, PlatformDir: w.platform})
		done <- err
	}()
	// wait until bin/detect has started
	for i := 0; i < 500 && len(w.ranBuildpacks(t)) == 0; i++ {
		sleepShort()
	}
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
	if _, statErr := os.Stat(w.runs); statErr != nil {
		t.Fatalf("bin/detect never started: %v", statErr)
	}
}
