package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/buildpacks/internal/fsutil"
	"github.com/kiln-build/kiln/buildpacks/sdk"
)

func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		vars     map[string]string
		wantPass bool
		wantMsg  string
	}{
		{name: "root index", files: map[string]string{"index.html": "x"}, wantPass: true, wantMsg: "found index.html"},
		{name: "public index", files: map[string]string{"public/index.html": "x"}, wantPass: true, wantMsg: "public/index.html"},
		{name: "dist wins over public", files: map[string]string{"public/index.html": "x", "dist/index.html": "x"}, wantPass: true, wantMsg: "dist/index.html"},
		{name: "BP_STATIC_ROOT", files: map[string]string{"site/index.html": "x"}, vars: map[string]string{"BP_STATIC_ROOT": "site"}, wantPass: true, wantMsg: "site/index.html"},
		{name: "nothing", files: map[string]string{"README.md": "x"}, wantMsg: "no index.html"},
		{name: "index elsewhere", files: map[string]string{"docs/index.html": "x"}, wantMsg: "no index.html"},
		{name: "node server app", files: map[string]string{"package.json": `{"scripts":{"start":"node s.js"}}`, "public/index.html": "x"}, wantMsg: "Node.js server app (scripts.start"},
		{name: "node server.js", files: map[string]string{"package.json": `{}`, "server.js": "", "index.html": "x"}, wantMsg: "Node.js server app"},
		{name: "node spa before build", files: map[string]string{"package.json": `{"scripts":{"build":"vite build"}}`}, wantPass: true, wantMsg: "expecting index.html"},
		{name: "node spa with template", files: map[string]string{"package.json": `{"scripts":{"build":"react-scripts build"}}`, "public/index.html": "x"}, wantPass: true, wantMsg: "public/index.html"},
		{name: "node library", files: map[string]string{"package.json": `{"name":"lib"}`}, wantMsg: "no index.html"},
		{name: "broken package.json with index", files: map[string]string{"package.json": `{`, "index.html": "x"}, wantPass: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log bytes.Buffer
			dc := &sdk.DetectContext{AppDir: tree(t, tt.files), Getenv: env(tt.vars), Log: sdk.NewLogger(&log)}
			_, err := detect(context.Background(), dc)
			var df *sdk.DetectFailure
			if tt.wantPass {
				if err != nil {
					t.Fatalf("detect failed: %v", err)
				}
				if !strings.Contains(log.String(), tt.wantMsg) {
					t.Errorf("log %q does not contain %q", log.String(), tt.wantMsg)
				}
				return
			}
			if !errors.As(err, &df) || !strings.Contains(df.Reason, tt.wantMsg) {
				t.Errorf("error %v, want a detect failure with %q", err, tt.wantMsg)
			}
		})
	}
}

func TestBuild(t *testing.T) {
	bpDir := tree(t, map[string]string{"bin/" + serverBinary: "server-binary"})
	tests := []struct {
		name    string
		files   map[string]string
		vars    map[string]string
		wantCmd []string
		wantErr string
	}{
		{name: "root site", files: map[string]string{"index.html": "x", "404.html": "y"}, wantCmd: []string{"-root", "."}},
		{name: "built site", files: map[string]string{"public/index.html": "t", "build/index.html": "x"}, wantCmd: []string{"-root", "build"}},
		{name: "spa", files: map[string]string{"dist/index.html": "x"}, vars: map[string]string{"BP_STATIC_SPA": "true"}, wantCmd: []string{"-root", "dist", "-spa"}},
		{name: "no site after build", files: map[string]string{"package.json": "{}"}, wantErr: "no index.html in dist/, build/, public/ or the app root"},
		{name: "root outside", files: map[string]string{"index.html": "x"}, vars: map[string]string{"BP_STATIC_ROOT": "../x"}, wantErr: "not a directory inside the app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			layers := t.TempDir()
			var log bytes.Buffer
			bc := &sdk.BuildContext{AppDir: tree(t, tt.files), LayersDir: layers, Buildpack: sdk.Info{ID: "kiln/static", Dir: bpDir},
				Getenv: env(tt.vars), Log: sdk.NewLogger(&log)}
			err := build(context.Background(), bc)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || sdk.Hint(err) == "" {
					t.Fatalf("error %v (hint %q), want %q with a hint", err, sdk.Hint(err), tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			server := filepath.Join(layers, "server", "bin", "kiln-static")
			b, err := os.ReadFile(server)
			if err != nil || string(b) != "server-binary" {
				t.Fatalf("server not installed: %q, %v", b, err)
			}
			if fi, _ := os.Stat(server); fi.Mode()&0o111 == 0 {
				t.Error("server is not executable")
			}
			want := []sdk.Process{{Type: "web", Command: append([]string{server}, tt.wantCmd...), Default: true}}
			if diff := cmp.Diff(want, bc.Launch.Processes); diff != "" {
				t.Errorf("processes (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBuildKeepsUnchangedServer: when the restored layer metadata names the
// same server (a launch-only layer comes back as its .toml alone), the
// buildpack leaves the layer dir out, so the previous image's layer is
// kept; another server is installed again.
func TestBuildKeepsUnchangedServer(t *testing.T) {
	bpDir := tree(t, map[string]string{"bin/" + serverBinary: "server-binary"})
	sum, err := fsutil.FileSHA256(filepath.Join(bpDir, "bin", serverBinary))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name      string
		restored  string
		installed bool
	}{
		{"same server", sum, false},
		{"other server", strings.Repeat("0", 64), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			layers := t.TempDir()
			toml := "[types]\nlaunch = true\n[metadata]\nserver-sha256 = \"" + tt.restored + "\"\n"
			if err := os.WriteFile(filepath.Join(layers, "server.toml"), []byte(toml), 0o644); err != nil {
				t.Fatal(err)
			}
			bc := &sdk.BuildContext{AppDir: tree(t, map[string]string{"index.html": "x"}), LayersDir: layers,
				Buildpack: sdk.Info{ID: "kiln/static", Dir: bpDir}, Getenv: env(nil), Log: sdk.NewLogger(io.Discard)}
			if err := build(context.Background(), bc); err != nil {
				t.Fatal(err)
			}
			_, err := os.Stat(filepath.Join(layers, "server", "bin", "kiln-static"))
			if got := err == nil; got != tt.installed {
				t.Errorf("server installed = %v, want %v", got, tt.installed)
			}
			if b, err := os.ReadFile(filepath.Join(layers, "server.toml")); !tt.installed && (err != nil || !strings.Contains(string(b), sum)) {
				t.Errorf("server.toml %q, %v: the restored metadata should stay", b, err)
			}
		})
	}
}
