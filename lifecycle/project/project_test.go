package project

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Descriptor
	}{{
		// buildpacks/samples apps/bash-script/project.toml (Apache-2.0)
		name: "schema 0.1",
		in: `[project]
id = "io.buildpacks.bash-script"
name = "Bash Script"
version = "1.0.0"

[build]
exclude = [
    "README.md",
    "bash-script-buildpack"
]

[[build.buildpacks]]
uri = "bash-script-buildpack/"

[[build.env]]
name = "A"
value = "1"

[metadata]
team = "x"
`,
		want: Descriptor{
			SchemaVersion: "0.1",
			Project:       Info{ID: "io.buildpacks.bash-script", Name: "Bash Script", Version: "1.0.0"},
			Exclude:       []string{"README.md", "bash-script-buildpack"},
			Group:         []Buildpack{{URI: "bash-script-buildpack/"}},
			Env:           []Env{{Name: "A", Value: "1"}},
			Metadata:      map[string]any{"team": "x"},
		},
	}, {
		name: "schema 0.2",
		in: `[_]
schema-version = "0.2"
id = "io.buildpacks.my-app"
version = "0.1"
authors = ["a@example.com"]
source-url = "https://example.com/src"
[[_.licenses]]
type = "MIT"
[_.metadata]
cdn = "https://cdn.example.com"

[io.buildpacks]
builder = "example/builder"
include = ["cmd/", "*.go"]

[[io.buildpacks.group]]
id = "io.buildpacks/java"
version = "1.0"

[[io.buildpacks.group]]
id = "example/post-build"
  [io.buildpacks.group.script]
  api = "0.10"
  inline = "./post-build.sh"

[[io.buildpacks.pre.group]]
uri = "urn:cnb:builder:kiln/pre"

[[io.buildpacks.post.group]]
id = "kiln/post"

[[io.buildpacks.build.env]]
name = "JAVA_OPTS"
value = "-Xmx1g"

[com.example]
anything = true
`,
		want: Descriptor{
			SchemaVersion: "0.2",
			Project: Info{ID: "io.buildpacks.my-app", Version: "0.1", Authors: []string{"a@example.com"},
				SourceURL: "https://example.com/src", Licenses: []License{{Type: "MIT"}}},
			Metadata: map[string]any{"cdn": "https://cdn.example.com"},
			Builder:  "example/builder",
			Include:  []string{"cmd/", "*.go"},
			Group: []Buildpack{{ID: "io.buildpacks/java", Version: "1.0"},
				{ID: "example/post-build", Script: &Script{API: "0.10", Inline: "./post-build.sh"}}},
			Pre:  []Buildpack{{URI: "urn:cnb:builder:kiln/pre"}},
			Post: []Buildpack{{ID: "kiln/post"}},
			Env:  []Env{{Name: "JAVA_OPTS", Value: "-Xmx1g"}},
		},
	}, {
		name: "unknown keys warned",
		in:   "[_]\nschema-version = \"0.2\"\nfoo = 1\n[io.buildpacks]\nbar = \"x\"\n",
		want: Descriptor{SchemaVersion: "0.2", Warnings: []string{"unknown key _.foo (ignored)", "unknown key io.buildpacks.bar (ignored)"}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&tt.want, got); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"both lists", "[build]\ninclude = [\"a\"]\nexclude = [\"b\"]\n", "build.include and build.exclude exclude each other"},
		{"both lists 0.2", "[_]\nschema-version = \"0.2\"\n[io.buildpacks]\ninclude = [\"a\"]\nexclude = [\"b\"]\n", "io.buildpacks.include and io.buildpacks.exclude"},
		{"schema", "[_]\nschema-version = \"0.3\"\n", `schema-version "0.3"`},
		{"syntax", "[build]\nexclude = [\n", "line "},
		{"empty entry", "[[build.buildpacks]]\nversion = \"1\"\n", "build.buildpacks entry 1: give an id, a uri or a script"},
		{"script no id", "[_]\nschema-version = \"0.2\"\n[[io.buildpacks.group]]\n[io.buildpacks.group.script]\napi = \"0.10\"\ninline = \"x\"\n", "needs an id"},
		{"script no api", "[_]\nschema-version = \"0.2\"\n[[io.buildpacks.group]]\nid = \"a/b\"\n[io.buildpacks.group.script]\ninline = \"x\"\n", "api and inline are required"},
		{"script bad api", "[_]\nschema-version = \"0.2\"\n[[io.buildpacks.post.group]]\nid = \"a/b\"\n[io.buildpacks.post.group.script]\napi = \"x\"\ninline = \"x\"\n", "io.buildpacks.post.group entry 1: script of a/b: api"},
		{"bad id", "[[build.buildpacks]]\nid = \"a@b\"\n", `id "a@b"`},
		{"env name", "[[build.env]]\nname = \"A=B\"\nvalue = \"x\"\n", `build.env entry 1: name "A=B"`},
		{"type", "[build]\nexclude = \"x\"\n", "exclude"},
		{"builder from a host path", "[_]\nschema-version = \"0.2\"\n[io.buildpacks]\nbuilder = \"oci:/var/lib/other\"\n", "a project names a builder image by its name"},
		{"builder from an archive", "[build]\nbuilder = \"docker-archive:/etc/shadow\"\n", "a project names a builder image by its name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestReadNamesFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, FileName)
	if err := os.WriteFile(p, []byte("[build]\nexclude = [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(p); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("Read = %v, want the file and line named", err)
	}
	if err := os.WriteFile(p, make([]byte, maxSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(p); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Read of a huge file = %v", err)
	}
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Read of a directory = %v", err)
	}
	if _, err := Read(filepath.Join(dir, "none.toml")); !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("Read of a missing file = %v, want not-exist", err)
	}
	if err := os.WriteFile(p, []byte("[[build.buildpacks]]\nuri = \"bp\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := Read(p)
	if err != nil || d.Dir != dir || d.Path != p {
		t.Errorf("Read = %+v, %v", d, err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestFilter(t *testing.T) {
	type probe struct {
		rel   string
		isDir bool
		out   bool
	}
	tests := []struct {
		name    string
		d       Descriptor
		probes  []probe
		wantNil bool
	}{
		{name: "none", wantNil: true},
		{name: "exclude", d: Descriptor{Exclude: []string{"README.md", "bash-script-buildpack", "secrets/", "*.log", "!keep.log", "/top.txt"}},
			probes: []probe{
				{"README.md", false, true}, {"docs/README.md", false, true}, {"app.sh", false, false},
				{"bash-script-buildpack", true, true}, {"secrets", true, true}, {"secrets", false, false},
				{"a/b.log", false, true}, {"keep.log", false, false}, {"top.txt", false, true}, {"x/top.txt", false, false},
			}},
		{name: "include", d: Descriptor{Include: []string{"cmd/", "go.mod", "*.go"}},
			probes: []probe{
				{"cmd", true, false}, {"cmd/x/data.txt", false, false}, {"go.mod", false, false}, {"a/b.go", false, false},
				{"a", true, false}, {"a/deeper", true, false}, {"README.md", false, true}, {"secret.env", false, true},
				{"docs/x.txt", false, true}, {"docs", true, true}, {"empty", true, true}, {"a/none", true, true},
			}},
	}
	root := t.TempDir()
	for _, p := range []string{"cmd/x/data.txt", "a/deeper/q/b.go", "a/b.go", "a/none/readme", "docs/x.txt", "README.md", "go.mod"} {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(root, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.d.Filter(root)
			if (f == nil) != tt.wantNil {
				t.Fatalf("Filter() nil = %v", f == nil)
			}
			for _, p := range tt.probes {
				if got := f(p.rel, p.isDir); got != p.out {
					t.Errorf("excluded(%q, dir=%v) = %v, want %v", p.rel, p.isDir, got, p.out)
				}
			}
		})
	}
}

func TestRef(t *testing.T) {
	dir := t.TempDir()
	bp := filepath.Join(dir, "my-bp")
	outside := t.TempDir()
	for _, p := range []string{filepath.Join(bp, "buildpack.toml"), filepath.Join(outside, "buildpack.toml"), filepath.Join(dir, "bp.cnb"), filepath.Join(dir, "nodesc", "x")} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(dir, "link-out")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "linked-desc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "linked-desc", "buildpack.toml")); err != nil {
		t.Fatal(err)
	}
	d := &Descriptor{Dir: dir}
	tests := []struct {
		b       Buildpack
		want    string
		wantErr string
	}{
		{b: Buildpack{URI: "my-bp/"}, want: bp},
		{b: Buildpack{URI: "./my-bp"}, want: bp},
		{b: Buildpack{URI: "file://" + bp}, wantErr: "a project names buildpack directories inside it"},
		{b: Buildpack{URI: bp}, wantErr: "must be inside the project"},
		{b: Buildpack{URI: "../" + filepath.Base(outside)}, wantErr: "leads out of the project"},
		{b: Buildpack{URI: "my-bp/../.."}, wantErr: "leads out of the project"},
		{b: Buildpack{URI: "link-out"}, wantErr: "leads out of the project"},
		{b: Buildpack{URI: "linked-desc"}, wantErr: "has no buildpack.toml (a regular file)"},
		{b: Buildpack{URI: "nodesc"}, wantErr: "has no buildpack.toml"},
		{b: Buildpack{URI: "urn:cnb:builder:kiln/go@1.0"}, want: "kiln/go@1.0"},
		{b: Buildpack{ID: "kiln/go", Version: "1.0"}, want: "kiln/go@1.0"},
		{b: Buildpack{ID: "kiln/go"}, want: "kiln/go"},
		{b: Buildpack{URI: "docker://example/bp"}, wantErr: "a project names buildpack directories inside it"},
		{b: Buildpack{URI: "https://example.com/bp.tgz"}, wantErr: "a project names buildpack directories inside it"},
		{b: Buildpack{URI: "missing"}, wantErr: "no such file"},
		{b: Buildpack{URI: "bp.cnb"}, wantErr: "not a directory"},
	}
	for _, tt := range tests {
		got, err := d.Ref(tt.b, t.TempDir())
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Ref(%+v) = %q, %v; want error %q", tt.b, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Ref(%+v) = %q, %v; want %q", tt.b, got, err, tt.want)
		}
	}
}

func TestMaterialize(t *testing.T) {
	b := Buildpack{ID: "example/inline", Script: &Script{API: "0.10", Shell: "/bin/bash", Inline: "echo hello > \"$1/x\""}}
	dir, err := (&Descriptor{}).Ref(b, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("the inline buildpack's dir: %v, %v; want mode 0755 (the build user reads it)", fi.Mode(), err)
	}
	desc, err := descriptor.ReadBuildpack(dir)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Buildpack.ID != "example/inline" || desc.Buildpack.Version != "0.0.0" || desc.API != "0.10" {
		t.Errorf("descriptor = %+v", desc)
	}
	layers := t.TempDir()
	out, err := exec.Command(filepath.Join(dir, "bin", "build"), layers, "", "").CombinedOutput()
	if err != nil {
		t.Fatalf("bin/build: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(layers, "x")); err != nil || string(b) != "hello\n" {
		t.Errorf("the script wrote %q, %v", b, err)
	}
	if err := exec.Command(filepath.Join(dir, "bin", "detect")).Run(); err != nil {
		t.Errorf("bin/detect: %v", err)
	}
}

func TestGitSource(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is needed (make deps installs it)")
	}
	dir := t.TempDir()
	git := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if GitSource(dir) != nil {
		t.Fatal("GitSource of a plain directory is not nil")
	}
	git("init", "-q", "-b", "main")
	if GitSource(dir) != nil {
		t.Error("GitSource of a repository without commits is not nil")
	}
	if err := os.WriteFile(filepath.Join(dir, "a"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("add", "a")
	git("commit", "-q", "-m", "one")
	git("remote", "add", "origin", "https://user:s3cret-token@example.com/org/app.git")
	head := git("rev-parse", "HEAD")
	want := &labels.ProjectSource{Type: "git", Version: map[string]any{"commit": head},
		Metadata: map[string]any{"refs": []any{"main"}, "repository": "https://example.com/org/app.git"}}
	if diff := cmp.Diff(want, GitSource(dir)); diff != "" {
		t.Errorf("GitSource (-want +got):\n%s", diff)
	}
	git("pack-refs", "--all") // the ref now lives in packed-refs only
	if diff := cmp.Diff(want, GitSource(dir)); diff != "" {
		t.Errorf("GitSource with packed refs (-want +got):\n%s", diff)
	}
	git("checkout", "-q", "--detach")
	want.Metadata = map[string]any{"repository": "https://example.com/org/app.git"}
	if diff := cmp.Diff(want, GitSource(dir)); diff != "" {
		t.Errorf("GitSource detached (-want +got):\n%s", diff)
	}
	// a hostile HEAD naming a path outside .git
	if err := os.WriteFile(filepath.Join(dir, ".git", "HEAD"), []byte("ref: refs/../../../etc/passwd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := GitSource(dir); got != nil {
		t.Errorf("GitSource with a hostile HEAD = %+v", got)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:tok@example.com/a.git": "https://example.com/a.git",
		"https://example.com/a.git":          "https://example.com/a.git",
		"git@github.com:org/app.git":         "git@github.com:org/app.git",
		"ssh://git@host/x":                   "ssh://host/x",
		"https://u:p@%zz/":                   "",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("[project]\nid = \"x\"\n[build]\nexclude = [\"a\"]\n[[build.buildpacks]]\nuri = \"b\"\n"))
	f.Add([]byte("[_]\nschema-version = \"0.2\"\n[io.buildpacks]\ninclude = [\"a\"]\n[[io.buildpacks.group]]\nid = \"a/b\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data)
		if err != nil {
			return
		}
		if len(d.Include) > 0 && len(d.Exclude) > 0 {
			t.Fatal("both include and exclude accepted")
		}
		if f := d.Filter(t.TempDir()); f != nil {
			f("a/b", false)
		}
	})
}
