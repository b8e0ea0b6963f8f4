package sdk

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type versionKey struct {
	Version string `toml:"version"`
	Hash    string `toml:"hash"`
}

func TestLayerReuse(t *testing.T) {
	tests := []struct {
		name      string
		types     LayerTypes
		restored  string // content of <layer>.toml before the build; "" for none
		contents  bool   // whether the layer directory was restored
		key       any
		wantReuse bool
		wantLog   string
		wantKept  bool // the old file in the layer survives
		wantNoDir bool
		wantToml  string
	}{
		{
			name:     "no previous layer",
			types:    LayerTypes{Build: true, Cache: true},
			key:      versionKey{Version: "1.22.5", Hash: "abc"},
			wantLog:  "Creating layer l (build+cache): no cached layer",
			wantToml: "[types]\n  launch = false\n  build = true\n  cache = true\n\n[metadata]\n  hash = \"abc\"\n  version = \"1.22.5\"\n",
		},
		{
			name:      "same key is reused",
			types:     LayerTypes{Build: true, Cache: true},
			restored:  "[metadata]\nversion = \"1.22.5\"\nhash = \"abc\"\n",
			contents:  true,
			key:       versionKey{Version: "1.22.5", Hash: "abc"},
			wantReuse: true,
			wantLog:   "Reusing cached layer l",
			wantKept:  true,
		},
		{
			name:      "map key equal to struct metadata",
			types:     LayerTypes{Launch: true, Cache: true},
			restored:  "[metadata]\nversion = \"1.22.5\"\nhash = \"abc\"\n",
			contents:  true,
			key:       map[string]any{"version": "1.22.5", "hash": "abc"},
			wantReuse: true,
			wantLog:   "Reusing cached layer l",
			wantKept:  true,
		},
		{
			name:      "numbers compare across int and float",
			types:     LayerTypes{Cache: true},
			restored:  "[metadata]\nn = 3.0\n",
			contents:  true,
			key:       map[string]any{"n": 3},
			wantReuse: true,
			wantLog:   "Reusing cached layer l",
			wantKept:  true,
		},
		{
			name:     "changed key is rebuilt",
			types:    LayerTypes{Build: true, Cache: true},
			restored: "[metadata]\nversion = \"1.22.4\"\nhash = \"abc\"\n",
			contents: true,
			key:      versionKey{Version: "1.22.5", Hash: "abc"},
			wantLog:  `Rebuilding layer l (build+cache): version changed from "1.22.4" to "1.22.5"`,
		},
		{
			name:     "added key is rebuilt",
			types:    LayerTypes{Cache: true},
			restored: "[metadata]\nversion = \"1\"\n",
			contents: true,
			key:      map[string]any{"version": "1", "extra": "x"},
			wantLog:  "extra is new",
		},
		{
			name:     "cached metadata without contents is rebuilt",
			types:    LayerTypes{Launch: true, Cache: true},
			restored: "[metadata]\nversion = \"1\"\n",
			key:      map[string]any{"version": "1"},
			wantLog:  "its contents were not restored",
		},
		{
			name:      "launch-only layer is reused from the previous image",
			types:     LayerTypes{Launch: true},
			restored:  "[metadata]\nversion = \"1\"\n",
			key:       map[string]any{"version": "1"},
			wantReuse: true,
			wantLog:   "Reusing layer l from the previous image",
			wantNoDir: true,
			wantToml:  "[types]\n  launch = true\n  build = false\n  cache = false\n\n[metadata]\n  version = \"1\"\n",
		},
		{
			name:     "unreadable toml is rebuilt",
			types:    LayerTypes{Cache: true},
			restored: "[metadata\n",
			contents: true,
			key:      map[string]any{"version": "1"},
			wantLog:  "ignoring unreadable",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.restored != "" {
				if err := os.WriteFile(filepath.Join(dir, "l.toml"), []byte(tt.restored), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tt.contents {
				if err := os.MkdirAll(filepath.Join(dir, "l"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "l", "old"), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var log bytes.Buffer
			bc := &BuildContext{LayersDir: dir, Log: NewLogger(&log)}
			l, err := bc.Layer("l", tt.types)
			if err != nil {
				t.Fatal(err)
			}
			reused, err := l.Reuse(tt.key)
			if err != nil {
				t.Fatal(err)
			}
			if reused != tt.wantReuse {
				t.Errorf("Reuse = %v, want %v", reused, tt.wantReuse)
			}
			if !strings.Contains(log.String(), tt.wantLog) {
				t.Errorf("log %q does not contain %q", log.String(), tt.wantLog)
			}
			_, err = os.Stat(filepath.Join(dir, "l", "old"))
			if kept := err == nil; kept != tt.wantKept {
				t.Errorf("old file kept = %v, want %v", kept, tt.wantKept)
			}
			if err := bc.finish(); err != nil {
				t.Fatal(err)
			}
			_, err = os.Stat(filepath.Join(dir, "l"))
			if noDir := err != nil; noDir != tt.wantNoDir {
				t.Errorf("layer directory missing = %v, want %v", noDir, tt.wantNoDir)
			}
			if tt.wantToml != "" {
				got, err := os.ReadFile(filepath.Join(dir, "l.toml"))
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.wantToml, string(got)); diff != "" {
					t.Errorf("l.toml (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestLayerNames(t *testing.T) {
	tests := []struct {
		name    string
		wantErr string
	}{
		{"go", ""},
		{"node_modules", ""},
		{"build", "reserved"},
		{"launch", "reserved"},
		{"store", "reserved"},
		{"", "not valid"},
		{"..", "not valid"},
		{"a/b", "path separator"},
	}
	for _, tt := range tests {
		bc := &BuildContext{LayersDir: t.TempDir(), Log: NewLogger(nil)}
		_, err := bc.Layer(tt.name, LayerTypes{Launch: true})
		got := ""
		if err != nil {
			got = err.Error()
		}
		if (tt.wantErr == "") != (err == nil) || !strings.Contains(got, tt.wantErr) {
			t.Errorf("Layer(%q) error = %v, want containing %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestLayerRemoveAndReset(t *testing.T) {
	dir := t.TempDir()
	bc := &BuildContext{LayersDir: dir, Log: NewLogger(nil)}
	keep, err := bc.Layer("keep", LayerTypes{Launch: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keep", "stale"), nil, 0o644); err == nil {
		t.Fatal("layer directory exists before Reset")
	}
	if err := keep.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(keep.Path, "bin"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	gone, err := bc.Layer("gone", LayerTypes{Cache: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := gone.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := gone.Remove(); err != nil {
		t.Fatal(err)
	}
	if err := bc.finish(); err != nil {
		t.Fatal(err)
	}
	var names []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{"keep", "keep.toml"}, names); diff != "" {
		t.Errorf("layers dir (-want +got):\n%s", diff)
	}
}

func TestLayerInfo(t *testing.T) {
	dir := t.TempDir()
	build := func() (*Layer, bool, *BuildContext) {
		bc := &BuildContext{LayersDir: dir, Log: NewLogger(nil)}
		l, err := bc.Layer("npm", LayerTypes{Build: true, Cache: true})
		if err != nil {
			t.Fatal(err)
		}
		reused, err := l.Reuse(map[string]string{"node": "22.1.0"})
		if err != nil {
			t.Fatal(err)
		}
		return l, reused, bc
	}
	l, reused, bc := build()
	if reused {
		t.Fatal("first build reused")
	}
	l.Info["npm-version"] = "10.9.2"
	if err := bc.finish(); err != nil {
		t.Fatal(err)
	}
	l, reused, bc = build()
	if !reused {
		t.Fatal("info in the metadata prevented reuse")
	}
	if diff := cmp.Diff(map[string]any{"npm-version": "10.9.2"}, l.Info); diff != "" {
		t.Errorf("restored info (-want +got):\n%s", diff)
	}
	if err := bc.finish(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "npm.toml"))
	if !strings.Contains(string(got), "[metadata.info]") || !strings.Contains(string(got), `npm-version = "10.9.2"`) {
		t.Errorf("npm.toml lost the info:\n%s", got)
	}
	bc2 := &BuildContext{LayersDir: dir, Log: NewLogger(nil)}
	l2, _ := bc2.Layer("x", LayerTypes{Cache: true})
	if _, err := l2.Reuse(map[string]string{"info": "x"}); err == nil {
		t.Error("a key using the reserved info name was accepted")
	}
}

// TestResetRemovesSBOM: a rebuilt layer loses the SBOM files of its old
// contents; a reused one keeps them.
func TestResetRemovesSBOM(t *testing.T) {
	for _, tc := range []struct {
		name     string
		key      string
		wantKept bool
	}{{"rebuilt", "2", false}, {"reused", "1", true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "l"), 0o755); err != nil {
				t.Fatal(err)
			}
			files := map[string]string{"l.toml": "[types]\ncache = true\n[metadata]\nv = \"1\"\n", "l.sbom.cdx.json": "{}", "l.sbom.spdx.json": "{}"}
			for n, c := range files {
				if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			bc := &BuildContext{LayersDir: dir, Log: NewLogger(&bytes.Buffer{})}
			l, err := bc.Layer("l", LayerTypes{Cache: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.Reuse(map[string]string{"v": tc.key}); err != nil {
				t.Fatal(err)
			}
			for _, n := range []string{"l.sbom.cdx.json", "l.sbom.spdx.json"} {
				_, err := os.Stat(filepath.Join(dir, n))
				if kept := err == nil; kept != tc.wantKept {
					t.Errorf("%s kept = %v, want %v", n, kept, tc.wantKept)
				}
			}
		})
	}
}
