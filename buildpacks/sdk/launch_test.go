package sdk

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

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
