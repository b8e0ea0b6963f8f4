package sdk

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeBuildpackTOML(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	toml := "api = \"0.12\"\n[buildpack]\nid = \"kiln/test\"\nversion = \"0.1.0\"\nname = \"Kiln Test\"\n"
	if err := os.WriteFile(filepath.Join(dir, "buildpack.toml"), []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestRunExitCodes(t *testing.T) {
	bpDir := writeBuildpackTOML(t)
	detectWith := func(plan BuildPlan, err error) DetectFunc {
		return func(context.Context, *DetectContext) (BuildPlan, error) { return plan, err }
	}
	buildWith := func(err error) BuildFunc {
		return func(_ context.Context, bc *BuildContext) error {
			if err != nil {
				return err
			}
			l, e := bc.Layer("x", LayerTypes{Launch: true})
			if e != nil {
				return e
			}
			bc.Launch.AddProcess(Process{Type: "web", Command: []string{"x"}, Default: true})
			return l.Reset()
		}
	}
	tests := []struct {
		name    string
		phase   string
		detect  DetectFunc
		build   BuildFunc
		want    int
		wantLog []string
	}{
		{"detect pass", "detect", detectWith(PlanFor("go", nil), nil), nil, 0, nil},
		{"detect fail", "detect", detectWith(BuildPlan{}, Fail("no go.mod in %s", "/app")), nil, 100, []string{"no go.mod in /app"}},
		{"detect error", "detect", detectWith(BuildPlan{}, errors.New("boom")), nil, 1, []string{"ERROR: boom"}},
		{"build ok", "build", nil, buildWith(nil), 0, []string{"===> Kiln Test 0.1.0"}},
		{"build error with fix", "build", nil, buildWith(Fix(errors.New("go.mod:3: unknown directive"), "correct go.mod")), 1,
			[]string{"ERROR: go.mod:3: unknown directive", "To fix this: correct go.mod"}},
		{"fail in build is an error", "build", nil, buildWith(Fail("nope")), 1, []string{"ERROR: detection failed: nope"}},
		{"unknown phase", "kiln", nil, nil, 1, []string{"bin/detect or bin/build"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			work := t.TempDir()
			vars := map[string]string{
				"CNB_BUILDPACK_DIR":   bpDir,
				"CNB_BUILD_PLAN_PATH": filepath.Join(work, "plan.toml"),
				"CNB_LAYERS_DIR":      work,
				"CNB_BP_PLAN_PATH":    filepath.Join(work, "bp-plan.toml"),
				"CNB_PLATFORM_DIR":    work,
			}
			var out bytes.Buffer
			e := Env{Args: []string{"/cnb/buildpacks/x/bin/" + tt.phase}, Getenv: func(k string) string { return vars[k] }, Stdout: &out, Dir: work}
			got := Run(context.Background(), e, tt.detect, tt.build)
			if got != tt.want {
				t.Errorf("exit code %d, want %d; log:\n%s", got, tt.want, out.String())
			}
			for _, w := range tt.wantLog {
				if !strings.Contains(out.String(), w) {
					t.Errorf("log does not contain %q:\n%s", w, out.String())
				}
			}
			if tt.name == "detect pass" {
				plan, err := os.ReadFile(vars["CNB_BUILD_PLAN_PATH"])
				if err != nil || !strings.Contains(string(plan), `name = "go"`) {
					t.Errorf("plan %q, %v", plan, err)
				}
			}
			if tt.name == "build ok" {
				for _, f := range []string{"x.toml", "launch.toml"} {
					if _, err := os.Stat(filepath.Join(work, f)); err != nil {
						t.Errorf("%s not written: %v", f, err)
					}
				}
			}
		})
	}
}

func TestHint(t *testing.T) {
	inner := Fix(errors.New("x"), "inner")
	outer := Fix(inner, "outer")
	if got := Hint(outer); got != "outer" {
		t.Errorf("Hint = %q, want outer", got)
	}
	if Fix(nil, "x") != nil {
		t.Error("Fix(nil) is not nil")
	}
	if Hint(errors.New("plain")) != "" {
		t.Error("Hint of a plain error is not empty")
	}
}
