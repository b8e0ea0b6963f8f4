package launchcheck

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/kiln-build/kiln/lifecycle/launch"
)

// tarEntry is a run image file: "name" a file, "name/" a dir,
// "name -> target" a symbolic link.
func runImage(t *testing.T, layers ...[]string) v1.Image {
	t.Helper()
	img := empty.Image
	for _, files := range layers {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, f := range files {
			h := &tar.Header{Name: f, Mode: 0o755, Typeflag: tar.TypeReg}
			if name, target, ok := strings.Cut(f, " -> "); ok {
				h = &tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target}
			} else if strings.HasSuffix(f, "/") {
				h.Typeflag = tar.TypeDir
			}
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		data := buf.Bytes()
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	img, err := mutate.Config(img, v1.Config{Env: []string{"PATH=/usr/local/bin:/usr/bin:/bin"}})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func write(t *testing.T, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// layers makes a layers dir with buildpack bp's launch layer "node" (bin/node
// a copy of the host's /bin/true, an ELF program that needs libc) and
// "modules" with a #!/usr/bin/env node script bin, plus a build-only
// layer "tools".
func layers(t *testing.T) (string, string) {
	t.Helper()
	dir, app := t.TempDir(), t.TempDir()
	bp := filepath.Join(dir, "acme_node")
	write(t, filepath.Join(bp, "node.toml"), "[types]\nlaunch = true\n", 0o644)
	elfProg, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Skip("no /bin/true to use as an ELF program")
	}
	write(t, filepath.Join(bp, "node", "bin", "node"), string(elfProg), 0o755)
	write(t, filepath.Join(bp, "modules.toml"), "[types]\nlaunch = true\n", 0o644)
	write(t, filepath.Join(bp, "modules", "node_modules", "next", "bin", "next"), "#!/usr/bin/env node\nconsole.log(1)\n", 0o755)
	if err := os.MkdirAll(filepath.Join(bp, "modules", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/layers/acme_node/modules/node_modules/next/bin/next", filepath.Join(bp, "modules", "bin", "next")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(bp, "tools.toml"), "[types]\nbuild = true\n", 0o644)
	write(t, filepath.Join(bp, "tools", "bin", "tsx"), "x", 0o755)
	write(t, filepath.Join(app, "server"), "x", 0o755)
	return dir, app
}

var libc = []string{"lib64/", "lib64/ld-linux-x86-64.so.2 -> /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
	"lib/", "lib/x86_64-linux-gnu/", "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "lib/x86_64-linux-gnu/libc.so.6",
	"lib/aarch64-linux-gnu/", "lib/aarch64-linux-gnu/libc.so.6", "lib/ld-linux-aarch64.so.1"}

func TestCheck(t *testing.T) {
	withEnv := append(append([]string{}, libc...), "usr/", "usr/bin/", "usr/bin/env")
	for _, tc := range []struct {
		name    string
		run     [][]string
		command []string
		want    string // in the error; "" for none
	}{
		{"elf with its libraries", [][]string{libc}, []string{"node", "server.js"}, ""},
		{"elf without libc", [][]string{{"lib64/"}}, []string{"node"}, "needs"},
		{"env script without env", [][]string{libc}, []string{"next", "start"}, "the image has no /usr/bin/env"},
		{"env script with env", [][]string{withEnv}, []string{"next", "start"}, ""},
		{"env removed by a whiteout", [][]string{withEnv, {"usr/bin/.wh.env"}}, []string{"next"}, "no /usr/bin/env"},
		{"opaque dir", [][]string{withEnv, {"usr/bin/.wh..wh..opq"}}, []string{"next"}, "no /usr/bin/env"},
		{"env script by its path", [][]string{libc}, []string{"/layers/acme_node/modules/bin/next", "x"}, "no /usr/bin/env"},
		{"build-only layer", [][]string{libc}, []string{"tsx", "server.ts"}, `command "tsx" is not on the launch PATH`},
		{"app file", [][]string{libc}, []string{"./server"}, ""},
		{"missing app file", [][]string{libc}, []string{"./serve"}, "is not in the image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, app := layers(t)
			err := Check(context.Background(), Options{
				RunImage: runImage(t, tc.run...), LayersDir: dir, AppDir: app,
				LayersPath: "/layers", AppPath: "/workspace",
				Metadata: launch.Metadata{
					Buildpacks: []launch.MetadataBuildpack{{ID: "acme/node"}},
					Processes:  []launch.MetadataProcess{{Type: "web", Command: tc.command, Direct: true}},
				},
			})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			var le *Error
			if !errors.As(err, &le) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "process web") {
				t.Fatalf("Check = %v, want an *Error containing %q", err, tc.want)
			}
		})
	}
}

func TestKilnExecLine(t *testing.T) {
	dir, app := layers(t)
	write(t, filepath.Join(dir, "acme_node", "exec.toml"), "[types]\nlaunch = true\n", 0o644)
	write(t, filepath.Join(dir, "acme_node", "exec", "bin", "kiln-exec"), "x", 0o755)
	for line, want := range map[string]string{
		"next start && echo done": "",
		"tsx server.ts":           `"tsx" is not on the launch PATH`,
		"PORT=1 $CMD":             "",
	} {
		err := Check(context.Background(), Options{
			RunImage: runImage(t, libc), LayersDir: dir, AppDir: app, LayersPath: "/layers", AppPath: "/workspace",
			Metadata: launch.Metadata{
				Buildpacks: []launch.MetadataBuildpack{{ID: "acme/node"}},
				Processes:  []launch.MetadataProcess{{Type: "web", Command: []string{"/layers/acme_node/exec/bin/kiln-exec", line}, Direct: true}},
			},
		})
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("%q: Check = %v, want %q", line, err, want)
		}
	}
}

func TestIndexCache(t *testing.T) {
	img := runImage(t, libc)
	dir := t.TempDir()
	a, err := LoadIndex(img, dir)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != 1 {
		t.Fatalf("index files %v, want one", files)
	}
	b, err := LoadIndex(img, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) || b["lib/x86_64-linux-gnu/libc.so.6"].Type != 'f' {
		t.Errorf("cached index differs: %v vs %v", a, b)
	}
}

// TestLayerLinkNotFollowed: a launch layer the build made a symlink (to a
// host dir) is not looked through: what is there on the host does not
// decide anything (here a script whose interpreter is missing would fail
// the check).
func TestLayerLinkNotFollowed(t *testing.T) {
	dir, app := layers(t)
	host := t.TempDir()
	write(t, filepath.Join(host, "bin", "node"), "#!/nonexistent/interpreter\n", 0o755)
	layer := filepath.Join(dir, "acme_node", "node")
	if err := os.RemoveAll(layer); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(host, layer); err != nil {
		t.Fatal(err)
	}
	err := Check(context.Background(), Options{
		RunImage: runImage(t, libc), LayersDir: dir, AppDir: app,
		LayersPath: "/layers", AppPath: "/workspace",
		Metadata: launch.Metadata{
			Buildpacks: []launch.MetadataBuildpack{{ID: "acme/node"}},
			Processes:  []launch.MetadataProcess{{Type: "web", Command: []string{"node"}, Direct: true}},
		},
	})
	if err != nil && strings.Contains(err.Error(), "nonexistent") {
		t.Fatalf("the check looked through the layer's link to the host: %v", err)
	}
}

// The layers' env files are read on the host: one that is a link (to a
// host file, say) must not be read, or its contents would reach the build
// log as the launch PATH.
func TestEnvLinkNotFollowed(t *testing.T) {
	for _, link := range []string{"env/PATH.prepend", "env.launch/PATH.prepend", "env.launch/web/PATH.prepend", "env.launch"} {
		t.Run(link, func(t *testing.T) {
			dir, app := layers(t)
			host := t.TempDir()
			write(t, filepath.Join(host, "PATH.prepend"), "host-secret", 0o600)
			target := filepath.Join(host, "PATH.prepend")
			if link == "env.launch" {
				target = host
			}
			p := filepath.Join(dir, "acme_node", "node", filepath.FromSlash(link))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			err := Check(context.Background(), Options{
				RunImage: runImage(t, libc), LayersDir: dir, AppDir: app,
				LayersPath: "/layers", AppPath: "/workspace",
				Metadata: launch.Metadata{
					Buildpacks: []launch.MetadataBuildpack{{ID: "acme/node"}},
					Processes:  []launch.MetadataProcess{{Type: "web", Command: []string{"nosuch"}, Direct: true}},
				},
			})
			if err == nil || strings.Contains(err.Error(), "host-secret") {
				t.Fatalf("Check = %v, want an error without the linked file's contents", err)
			}
		})
	}
}
