package export

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/kiln-build/kiln/lifecycle/launch"
)

// What a hostile build leaves in its layers and app dirs must not lead
// export to the host's files.
func TestExportRefusesHostileOutput(t *testing.T) {
	run, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	secretDir := t.TempDir()
	write(t, filepath.Join(secretDir, "config.json"), "HOST-CREDENTIALS")
	for _, tc := range []struct {
		name string
		mess func(t *testing.T, layers, app string, md *launch.Metadata)
		want string
	}{{
		name: "launch layer dir is a symlink",
		mess: func(t *testing.T, layers, app string, md *launch.Metadata) {
			os.RemoveAll(filepath.Join(layers, "acme_rt", "rt"))
			if err := os.Symlink(secretDir, filepath.Join(layers, "acme_rt", "rt")); err != nil {
				t.Fatal(err)
			}
		},
		want: "not a directory",
	}, {
		name: "slice glob through a workspace symlink",
		mess: func(t *testing.T, layers, app string, md *launch.Metadata) {
			if err := os.Symlink(secretDir, filepath.Join(app, "escape")); err != nil {
				t.Fatal(err)
			}
			md.Slices = []launch.Slice{{Paths: []string{"escape/*"}}}
		},
	}, {
		name: "too many launch layers",
		mess: func(t *testing.T, layers, app string, md *launch.Metadata) {
			for i := range MaxImageLayers {
				n := fmt.Sprintf("l%03d", i)
				write(t, filepath.Join(layers, "acme_rt", n+".toml"), "[types]\nlaunch = true\n")
				write(t, filepath.Join(layers, "acme_rt", n, "f"), n)
			}
		},
		want: "container engines run at most 127",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			layers, app, md := fixture(t)
			tc.mess(t, layers, app, &md)
			res, err := Export(context.Background(), options(t, run, layers, app, md))
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Export = %v, want an error with %q", err, tc.want)
				}
				if strings.Contains(err.Error(), "config.json") {
					t.Errorf("the error names a host file: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ls, _ := res.Image.Layers()
			for _, l := range ls {
				for name := range files(t, l) {
					if strings.Contains(name, "config.json") {
						t.Errorf("the image holds the host's %s", name)
					}
				}
			}
		})
	}
}
