package sdk

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAddProcess(t *testing.T) {
	var l Launch
	l.AddProcess(Process{Type: "web", Command: []string{"a"}, Default: true})
	l.AddProcess(Process{Type: "worker", Command: []string{"w"}})
	l.AddProcess(Process{Type: "web", Command: []string{"b"}})
	l.AddProcess(Process{Type: "cli", Command: []string{"c"}, Default: true})
	want := []Process{
		{Type: "worker", Command: []string{"w"}},
		{Type: "web", Command: []string{"b"}},
		{Type: "cli", Command: []string{"c"}, Default: true},
	}
	if diff := cmp.Diff(want, l.Processes); diff != "" {
		t.Errorf("processes (-want +got):\n%s", diff)
	}
}

func TestLaunchValidate(t *testing.T) {
	tests := []struct {
		name    string
		launch  Launch
		wantErr string
	}{
		{"ok", Launch{Processes: []Process{{Type: "web", Command: []string{"x"}, Default: true}}}, ""},
		{"bad type", Launch{Processes: []Process{{Type: "we b", Command: []string{"x"}}}}, "only letters"},
		{"no command", Launch{Processes: []Process{{Type: "web"}}}, "no command"},
		{"twice", Launch{Processes: []Process{{Type: "web", Command: []string{"x"}}, {Type: "web", Command: []string{"y"}}}}, "defined twice"},
		{"two defaults", Launch{Processes: []Process{{Type: "a", Command: []string{"x"}, Default: true}, {Type: "b", Command: []string{"y"}, Default: true}}}, "at most one"},
		{"empty label", Launch{Labels: []Label{{Value: "v"}}}, "empty key"},
	}
	for _, tt := range tests {
		err := tt.launch.validate()
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestFinishWritesLaunchAndBuild(t *testing.T) {
	dir := t.TempDir()
	bc := &BuildContext{LayersDir: dir, Log: NewLogger(nil)}
	bc.Launch.AddProcess(Process{Type: "web", Command: []string{"/l/bin/app", "-v"}, Args: []string{"serve"}, Default: true, WorkingDir: "/workspace"})
	bc.Launch.Labels = append(bc.Launch.Labels, Label{Key: "org.example", Value: "1"})
	bc.Launch.Slices = append(bc.Launch.Slices, Slice{Paths: []string{"static/*"}})
	bc.Unmet = []string{"node"}
	if err := bc.finish(); err != nil {
		t.Fatal(err)
	}
	launch, err := os.ReadFile(filepath.Join(dir, "launch.toml"))
	if err != nil {
		t.Fatal(err)
	}
	wantLaunch := `[[labels]]
  key = "org.example"
  value = "1"

[[processes]]
  type = "web"
  command = ["/l/bin/app", "-v"]
  args = ["serve"]
  default = true
  working-dir = "/workspace"

[[slices]]
  paths = ["static/*"]
`
	if diff := cmp.Diff(wantLaunch, string(launch)); diff != "" {
		t.Errorf("launch.toml (-want +got):\n%s", diff)
	}
	build, err := os.ReadFile(filepath.Join(dir, "build.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("[[unmet]]\n  name = \"node\"\n", string(build)); diff != "" {
		t.Errorf("build.toml (-want +got):\n%s", diff)
	}
}

func TestFinishWritesNothingWhenEmpty(t *testing.T) {
	dir := t.TempDir()
	bc := &BuildContext{LayersDir: dir, Log: NewLogger(nil)}
	if err := bc.finish(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("layers dir has %d entries, want none", len(entries))
	}
}
