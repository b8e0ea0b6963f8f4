package execlayer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/buildpacks/internal/fsutil"
	"github.com/kiln-build/kiln/buildpacks/sdk"
)

func TestCommand(t *testing.T) {
	bpDir := t.TempDir()
	os.MkdirAll(filepath.Join(bpDir, "bin"), 0o755)
	os.WriteFile(filepath.Join(bpDir, "bin", Binary), []byte("helper"), 0o755)
	layers := t.TempDir()
	bc := &sdk.BuildContext{LayersDir: layers, Buildpack: sdk.Info{Dir: bpDir}, Log: sdk.NewLogger(nil)}

	got, err := Command(bc, "./bin/web -v")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"./bin/web", "-v"}, got); diff != "" {
		t.Errorf("plain line (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(layers, LayerName)); err == nil {
		t.Error("a plain line installed kiln-exec")
	}
	helper := filepath.Join(layers, LayerName, "bin", Binary)
	for _, line := range []string{"web --port $PORT", "a && b"} {
		got, err = Command(bc, line)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{helper, line}, got); diff != "" {
			t.Errorf("%q (-want +got):\n%s", line, diff)
		}
	}
	if b, _ := os.ReadFile(helper); string(b) != "helper" {
		t.Errorf("helper content %q", b)
	}

	missing := &sdk.BuildContext{LayersDir: t.TempDir(), Buildpack: sdk.Info{Dir: t.TempDir()}, Log: sdk.NewLogger(nil)}
	if _, err := Command(missing, "x $Y"); err == nil || !strings.Contains(sdk.Hint(err), "reinstall") {
		t.Errorf("missing helper: %v", err)
	}
}

// With the same kiln-exec named in the restored layer metadata (a
// launch-only layer comes back as its .toml alone), nothing is installed:
// the previous image's layer is kept; another kiln-exec is installed.
func TestCommandKeepsUnchangedLayer(t *testing.T) {
	bpDir := t.TempDir()
	os.MkdirAll(filepath.Join(bpDir, "bin"), 0o755)
	os.WriteFile(filepath.Join(bpDir, "bin", Binary), []byte("helper"), 0o755)
	sum, err := fsutil.FileSHA256(filepath.Join(bpDir, "bin", Binary))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, restored string
		installed      bool
	}{{"same helper", sum, false}, {"other helper", strings.Repeat("0", 64), true}} {
		t.Run(tc.name, func(t *testing.T) {
			layers := t.TempDir()
			toml := "[types]\nlaunch = true\n[metadata]\nkiln-exec-sha256 = \"" + tc.restored + "\"\n"
			if err := os.WriteFile(filepath.Join(layers, LayerName+".toml"), []byte(toml), 0o644); err != nil {
				t.Fatal(err)
			}
			bc := &sdk.BuildContext{LayersDir: layers, Buildpack: sdk.Info{Dir: bpDir}, Log: sdk.NewLogger(nil)}
			for _, line := range []string{"web --port $PORT", "a && b"} {
				if _, err := Command(bc, line); err != nil {
					t.Fatal(err)
				}
			}
			_, err := os.Stat(filepath.Join(layers, LayerName, "bin", Binary))
			if got := err == nil; got != tc.installed {
				t.Errorf("installed = %v, want %v", got, tc.installed)
			}
		})
	}
}
