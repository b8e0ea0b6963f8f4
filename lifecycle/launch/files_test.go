package launch

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func write(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func boolp(b bool) *bool { return &b }

func TestReadLaunch(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Launch
		wantErr string
	}{
		{
			name: "full",
			in: `
[[labels]]
key = "k"
value = "v"

[[processes]]
type = "web"
command = ["node", "server.js"]
args = ["--port", "8080"]
default = true
working-dir = "/workspace/app"
exec-env = ["production"]

[[processes]]
type = "worker.v2_x-y"
command = ["run"]

[[slices]]
paths = ["static/*", "*.html"]
`,
			want: Launch{
				Labels: []Label{{Key: "k", Value: "v"}},
				Processes: []Process{
					{Type: "web", Command: Argv{"node", "server.js"}, Args: []string{"--port", "8080"}, Default: true, WorkingDir: "/workspace/app", ExecEnv: []string{"production"}},
					{Type: "worker.v2_x-y", Command: Argv{"run"}},
				},
				Slices: []Slice{{Paths: []string{"static/*", "*.html"}}},
			},
		},
		{
			name: "legacy string command with direct",
			in:   "[[processes]]\ntype = \"web\"\ncommand = \"bundle exec rails s\"\ndirect = false\nargs = [\"-p\", \"80\"]\n",
			want: Launch{Processes: []Process{{Type: "web", Command: Argv{"bundle exec rails s"}, Args: []string{"-p", "80"}, Direct: boolp(false)}}},
		},
		{name: "empty file", in: "", want: Launch{}},
		{name: "bad type", in: "[[processes]]\ntype = \"we b\"\ncommand = [\"x\"]\n", wantErr: `type "we b" must match`},
		{name: "dotdot type", in: "[[processes]]\ntype = \"..\"\ncommand = [\"x\"]\n", wantErr: `type ".." must match`},
		{name: "empty type", in: "[[processes]]\ncommand = [\"x\"]\n", wantErr: `type "" must match`},
		{name: "empty command", in: "[[processes]]\ntype = \"web\"\ncommand = []\n", wantErr: "command is empty"},
		{name: "command of numbers", in: "[[processes]]\ntype = \"web\"\ncommand = [1]\n", wantErr: "not a string"},
		{name: "duplicate type", in: "[[processes]]\ntype = \"web\"\ncommand = [\"a\"]\n[[processes]]\ntype = \"web\"\ncommand = [\"b\"]\n", wantErr: "declared twice"},
		{name: "two defaults", in: "[[processes]]\ntype = \"a\"\ncommand = [\"a\"]\ndefault = true\n[[processes]]\ntype = \"b\"\ncommand = [\"b\"]\ndefault = true\n", wantErr: "marked default"},
		{name: "duplicate label", in: "[[labels]]\nkey = \"k\"\nvalue = \"1\"\n[[labels]]\nkey = \"k\"\nvalue = \"2\"\n", wantErr: `label "k" is declared twice`},
		{name: "malformed", in: "[[processes]\n", wantErr: "parsing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := write(t, t.TempDir(), "launch.toml", tt.in)
			got, err := ReadLaunch(p)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), p) {
					t.Fatalf("err = %v, want one naming %s and containing %q", err, p, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestMissingFilesAreEmpty(t *testing.T) {
	dir := t.TempDir()
	if l, err := ReadLaunch(filepath.Join(dir, "launch.toml")); err != nil || len(l.Processes) != 0 {
		t.Errorf("ReadLaunch(missing) = %+v, %v", l, err)
	}
	if b, err := ReadBuild(filepath.Join(dir, "build.toml")); err != nil || len(b.Unmet) != 0 {
		t.Errorf("ReadBuild(missing) = %+v, %v", b, err)
	}
	if s, err := ReadStore(filepath.Join(dir, "store.toml")); err != nil || s.Metadata != nil {
		t.Errorf("ReadStore(missing) = %+v, %v", s, err)
	}
	if _, err := ReadLayer(filepath.Join(dir, "x.toml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadLayer(missing) err = %v, want ErrNotExist", err)
	}
	if _, err := ReadMetadata(filepath.Join(dir, "metadata.toml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadMetadata(missing) err = %v, want ErrNotExist", err)
	}
}

func TestRoundTrips(t *testing.T) {
	dir := t.TempDir()
	l := Launch{
		Labels:    []Label{{Key: "a", Value: "b"}},
		Processes: []Process{{Type: "web", Command: Argv{"x", "y"}, Args: []string{"z"}, Default: true}},
		Slices:    []Slice{{Paths: []string{"a/*"}}},
	}
	p := filepath.Join(dir, "launch.toml")
	if err := WriteLaunch(p, l); err != nil {
		t.Fatal(err)
	}
	gotL, err := ReadLaunch(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(l, gotL); diff != "" {
		t.Errorf("launch.toml (-want +got):\n%s", diff)
	}

	b := Build{Unmet: []Unmet{{Name: "node"}, {Name: "go"}}, BOM: []BOMEntry{{Name: "gcc", Metadata: map[string]any{"version": "12.2"}}}}
	p = filepath.Join(dir, "build.toml")
	if err := WriteBuild(p, b); err != nil {
		t.Fatal(err)
	}
	gotB, err := ReadBuild(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(b, gotB); diff != "" {
		t.Errorf("build.toml (-want +got):\n%s", diff)
	}

	s := Store{Metadata: map[string]any{"version": "1.2", "n": int64(3), "nested": map[string]any{"k": true}}}
	p = filepath.Join(dir, "store.toml")
	if err := WriteStore(p, s); err != nil {
		t.Fatal(err)
	}
	gotS, err := ReadStore(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, gotS); diff != "" {
		t.Errorf("store.toml (-want +got):\n%s", diff)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("store.toml mode = %v, %v; want 0644", fi.Mode(), err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

func TestReadBuildUnnamedUnmet(t *testing.T) {
	p := write(t, t.TempDir(), "build.toml", "[[unmet]]\n")
	if _, err := ReadBuild(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("err = %v, want one naming %s", err, p)
	}
}

func TestReadBuildLegacyBOM(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "build.toml", "[[bom]]\nname = \"gcc\"\n[bom.metadata]\nversion = \"12.2\"\n[[bom]]\nname = \"make\"\n")
	got, err := ReadBuild(p)
	if err != nil {
		t.Fatal(err)
	}
	want := Build{BOM: []BOMEntry{{Name: "gcc", Metadata: map[string]any{"version": "12.2"}}, {Name: "make"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	p = write(t, dir, "bad.toml", "[[bom]]\nname = \"gcc\"\nversion = \"12.2\"\n")
	if _, err := ReadBuild(p); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "top-level version") {
		t.Errorf("a bom entry with a top-level version: err = %v, want one naming %s", err, p)
	}
}

func TestReadLayer(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Layer
		wantErr string
	}{
		{
			name: "types and metadata",
			in:   "[types]\nlaunch = true\ncache = true\n[metadata]\nversion = \"1\"\nexec-env = [\"test\"]\n",
			want: Layer{Types: LayerTypes{Launch: true, Cache: true}, Metadata: map[string]any{"version": "1", "exec-env": []any{"test"}}},
		},
		{name: "no types is all false", in: "[metadata]\nv = 1\n", want: Layer{Metadata: map[string]any{"v": int64(1)}}},
		{name: "empty", in: "", want: Layer{}},
		{name: "top-level launch", in: "launch = true\n", wantErr: `top-level "launch"`},
		{name: "top-level build", in: "build = false\n[types]\nbuild = true\n", wantErr: `top-level "build"`},
		{name: "top-level cache", in: "cache = true\n", wantErr: `top-level "cache"`},
		{name: "type not bool", in: "[types]\nlaunch = \"yes\"\n", wantErr: "parsing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := write(t, t.TempDir(), "node.toml", tt.in)
			got, err := ReadLayer(p)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), p) {
					t.Fatalf("err = %v, want one naming %s and containing %q", err, p, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestLayerExecEnvAndNone(t *testing.T) {
	l := Layer{Metadata: map[string]any{"exec-env": []any{"test", "development"}}}
	got, err := l.ExecEnv()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"test", "development"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := (Layer{Metadata: map[string]any{"exec-env": "test"}}).ExecEnv(); err == nil {
		t.Error("string exec-env accepted")
	}
	if !(LayerTypes{}).None() || (LayerTypes{Cache: true}).None() {
		t.Error("None() wrong")
	}
}

func TestWriteLayerMetadataOnly(t *testing.T) {
	p := filepath.Join(t.TempDir(), "l.toml")
	if err := WriteLayerMetadataOnly(p, Layer{Types: LayerTypes{Launch: true}, Metadata: map[string]any{"v": "1"}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "types") || strings.Contains(string(b), "launch") {
		t.Errorf("metadata-only file has types:\n%s", b)
	}
	got, err := ReadLayer(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Layer{Metadata: map[string]any{"v": "1"}}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// FuzzReadFiles feeds arbitrary bytes to every reader of buildpack-written
// files: none may panic, and what ReadLaunch accepts must survive a write
// and read back unchanged.
func FuzzReadFiles(f *testing.F) {
	f.Add("[[processes]]\ntype = \"web\"\ncommand = [\"a\"]\ndefault = true\n")
	f.Add("[types]\nlaunch = true\n[metadata]\nx = 1\n")
	f.Add("launch = true")
	f.Add("[[unmet]]\nname = \"go\"\n")
	f.Add("[[labels]]\nkey = \"a\"\nvalue = \"b\"\n[[slices]]\npaths = [\"*\"]")
	f.Fuzz(func(t *testing.T, data string) {
		dir := t.TempDir()
		p := write(t, dir, "in.toml", data)
		l, err := ReadLaunch(p)
		if err == nil {
			if err := l.Validate(); err != nil {
				t.Fatalf("ReadLaunch returned an invalid Launch: %v", err)
			}
			out := filepath.Join(dir, "out.toml")
			if err := WriteLaunch(out, l); err != nil {
				t.Fatalf("WriteLaunch: %v", err)
			}
			back, err := ReadLaunch(out)
			if err != nil {
				t.Fatalf("reading back: %v", err)
			}
			if diff := cmp.Diff(l, back); diff != "" {
				t.Fatalf("round trip (-want +got):\n%s", diff)
			}
		}
		if ly, err := ReadLayer(p); err == nil {
			_, _ = ly.ExecEnv()
		} else if !strings.Contains(err.Error(), p) {
			t.Fatalf("ReadLayer error %q does not name the file", err)
		}
		_, _ = ReadBuild(p)
		_, _ = ReadStore(p)
		_, _ = ReadMetadata(p)
	})
}
