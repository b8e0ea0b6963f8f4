package stack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/stacks/debian"
)

// minimal is the smallest valid stack.toml; tests add lines to it.
const minimal = `
id = "io.example.stack"
suite = "bookworm"
[labels]
"io.buildpacks.base.maintainer" = "Example Ltd"
`

const full = `
id = "io.example.stack"
suite = "bookworm"
mirror = "http://mirror.example/debian"
components = ["main", "contrib"]
sources = ["deb http://mirror.example/debian-security bookworm-security main"]
arch = "arm64"
user = "app"
group = "apps"
uid = 1001
gid = 1002
source-date-epoch = 1700000000

[env]
LANG = "C.UTF-8"
SHARED = "shared"

[labels]
"io.buildpacks.base.maintainer" = "Example Ltd"
"io.buildpacks.base.homepage" = "https://example.com"
"io.buildpacks.base.description" = "shared description"

[build]
variant = "minbase"
packages = ["gcc", "bash"]
[build.env]
SHARED = "build wins"
[build.labels]
"io.buildpacks.base.description" = "the build image"

[run]
variant = "custom"
packages = ["libc6", "dash"]
remove = ["/bin/*"]
[run.env]
ONLY_RUN = "1"
[run.labels]
"io.buildpacks.rebasable" = "false"
"com.example.extra" = "x"
`

// TestRecipes checks the split of one stack.toml into two recipes.
func TestRecipes(t *testing.T) {
	s, err := Decode("example", "stacks/example/stack.toml", []byte(full))
	if err != nil {
		t.Fatal(err)
	}
	build, run := s.Recipes()
	shared := debian.Recipe{
		Suite:           "bookworm",
		Mirror:          "http://mirror.example/debian",
		Components:      []string{"main", "contrib"},
		Sources:         []string{"deb http://mirror.example/debian-security bookworm-security main"},
		Arch:            "arm64",
		User:            "app",
		Group:           "apps",
		UID:             1001,
		GID:             1002,
		StackID:         "io.example.stack",
		SourceDateEpoch: 1700000000,
	}
	wantBuild := shared
	wantBuild.Kind = debian.KindBuild
	wantBuild.Variant = "minbase"
	wantBuild.Packages = []string{"gcc", "bash"}
	wantBuild.Env = map[string]string{"LANG": "C.UTF-8", "SHARED": "build wins"}
	wantBuild.Labels = map[string]string{
		LabelMaintainer:  "Example Ltd",
		LabelHomepage:    "https://example.com",
		LabelDescription: "the build image",
		LabelRebasable:   "true",
	}
	wantRun := shared
	wantRun.Kind = debian.KindRun
	wantRun.Variant = "custom"
	wantRun.Packages = []string{"libc6", "dash"}
	wantRun.Remove = []string{"/bin/*"}
	wantRun.Env = map[string]string{"LANG": "C.UTF-8", "SHARED": "shared", "ONLY_RUN": "1"}
	wantRun.Labels = map[string]string{
		LabelMaintainer:     "Example Ltd",
		LabelHomepage:       "https://example.com",
		LabelDescription:    "shared description",
		LabelRebasable:      "false",
		"com.example.extra": "x",
	}
	if diff := cmp.Diff(wantBuild, build); diff != "" {
		t.Errorf("build recipe (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantRun, run); diff != "" {
		t.Errorf("run recipe (-want +got):\n%s", diff)
	}
	if build.Key() == run.Key() {
		t.Error("build and run recipes share a cache key")
	}
	if got, want := s.BuildImageName()+" "+s.RunImageName(), "kiln/example-build:latest kiln/example-run:latest"; got != want {
		t.Errorf("image names %q, want %q", got, want)
	}
}

// TestRecipesMinimal checks the defaults: rebasable true, no env, the
// shared maintainer on both images.
func TestRecipesMinimal(t *testing.T) {
	s, err := Decode("min", "stack.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	build, run := s.Recipes()
	for _, r := range []debian.Recipe{build, run} {
		want := map[string]string{LabelMaintainer: "Example Ltd", LabelRebasable: "true"}
		if diff := cmp.Diff(want, r.Labels); diff != "" {
			t.Errorf("%s labels (-want +got):\n%s", r.Kind, diff)
		}
		if r.Env != nil {
			t.Errorf("%s env = %v, want none", r.Kind, r.Env)
		}
		if r.StackID != "io.example.stack" {
			t.Errorf("%s stack id = %q", r.Kind, r.StackID)
		}
	}
}

// TestDecodeErrors covers every error Decode reports; each must name the
// file and the entry.
func TestDecodeErrors(t *testing.T) {
	const file = "stacks/example/stack.toml"
	noMaintainer := "id = \"io.example\"\nsuite = \"bookworm\"\n"
	tests := []struct {
		name, stackName, toml string
		want                  []string // substrings of the error
	}{
		{"syntax", "example", minimal + "\n[build\n", []string{"parsing " + file, "line 7"}},
		{"type", "example", "id = 1\n", []string{file, "id"}},
		{"unknown top-level key", "example", "colour = \"red\"\n" + minimal, []string{file, "unknown key", "colour"}},
		{"unknown key in [run]", "example", minimal + "[run]\npacakges = [\"libc6\"]\n", []string{file, "unknown key run.pacakges"}},
		{"unknown key in [build]", "example", minimal + "[build]\nroot-user = true\n", []string{file, "unknown key build.root-user"}},
		{"unknown table", "example", minimal + "[extra]\nx = 1\n", []string{file, "unknown key extra"}},
		{"bad stack name", "Bad Name", minimal, []string{file, `stack name "Bad Name"`}},
		{"no id", "example", "suite = \"bookworm\"\n[labels]\n\"io.buildpacks.base.maintainer\" = \"x\"\n", []string{file, "id: required"}},
		{"bad id", "example", "id = \"a b\"\n" + strings.TrimPrefix(minimal, "\nid = \"io.example.stack\"\n"), []string{file, `id: "a b"`}},
		{"no suite", "example", "id = \"io.example\"\n[labels]\n\"io.buildpacks.base.maintainer\" = \"x\"\n", []string{file, "suite: required"}},
		{"bad suite", "example", strings.Replace(minimal, `"bookworm"`, `"book worm"`, 1), []string{file, "suite", `"book worm"`}},
		{"no maintainer", "example", noMaintainer, []string{file, "labels: io.buildpacks.base.maintainer is required"}},
		{"maintainer only on build", "example", noMaintainer + "[build.labels]\n\"io.buildpacks.base.maintainer\" = \"x\"\n", []string{file, "io.buildpacks.base.maintainer is required", "[run]"}},
		{"empty maintainer", "example", noMaintainer + "[labels]\n\"io.buildpacks.base.maintainer\" = \" \"\n", []string{file, "labels: io.buildpacks.base.maintainer is empty"}},
		{"empty description in [run]", "example", minimal + "[run.labels]\n\"io.buildpacks.base.description\" = \"\"\n", []string{file, "[run] labels: io.buildpacks.base.description is empty"}},
		{"reserved label", "example", minimal + "\"io.buildpacks.base.id\" = \"x\"\n", []string{file, "labels: io.buildpacks.base.id is set by kiln"}},
		{"reserved label in [build]", "example", minimal + "[build.labels]\n\"io.buildpacks.base.distro.name\" = \"x\"\n", []string{file, "[build] labels: io.buildpacks.base.distro.name is set by kiln"}},
		{"sbom label", "example", minimal + "[run.labels]\n\"io.buildpacks.base.sbom\" = \"x\"\n", []string{file, "[run] labels: io.buildpacks.base.sbom"}},
		{"packages label", "example", minimal + "\"io.kiln.packages\" = \"[]\"\n", []string{file, "io.kiln.packages is set by kiln"}},
		{"bad rebasable", "example", minimal + "\"io.buildpacks.rebasable\" = \"yes\"\n", []string{file, `io.buildpacks.rebasable = "yes"`}},
		{"bad mirror", "example", "mirror = \"not a url\"\n" + minimal, []string{file, "mirror", `"not a url"`}},
		{"bad source", "example", "sources = [\"http://x bookworm main\"]\n" + minimal, []string{file, "sources"}},
		{"bad component", "example", "components = [\"a b\"]\n" + minimal, []string{file, "components"}},
		{"bad arch", "example", "arch = \"vax\"\n" + minimal, []string{file, "arch", `"vax"`}},
		{"bad user", "example", "user = \"Bad User\"\n" + minimal, []string{file, "user"}},
		{"bad group", "example", "group = \"-g\"\n" + minimal, []string{file, "group"}},
		{"bad uid", "example", "uid = -5\n" + minimal, []string{file, "uid"}},
		{"bad gid", "example", "gid = 4294967295\n" + minimal, []string{file, "gid"}},
		{"negative epoch", "example", "source-date-epoch = -1\n" + minimal, []string{file, "source-date-epoch"}},
		{"reserved env", "example", minimal + "[env]\nCNB_USER_ID = \"0\"\n", []string{file, "env", "CNB_USER_ID"}},
		{"bad env name", "example", minimal + "[run.env]\n\"1X\" = \"0\"\n", []string{file, "[run]", "env", `"1X"`}},
		{"bad variant in [run]", "example", minimal + "[run]\nvariant = \"tiny\"\n", []string{file, "[run]", "variant", `"tiny"`}},
		{"bad package in [build]", "example", minimal + "[build]\npackages = [\"Bad Package\"]\n", []string{file, "[build]", "packages", `"Bad Package"`}},
		{"bad remove in [run]", "example", minimal + "[run]\nremove = [\"bin/sh\"]\n", []string{file, "[run]", "remove", `"bin/sh"`}},
		{"remove of the root", "example", minimal + "[run]\nremove = [\"/\"]\n", []string{file, "[run]", "remove"}},
		{"bad remove pattern", "example", minimal + "[run]\nremove = [\"/bin/[\"]\n", []string{file, "[run]", "remove"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Decode(tt.stackName, file, []byte(tt.toml))
			if err == nil {
				t.Fatalf("Decode succeeded: %+v", s.File)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestRead(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "my-stack")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(minimal), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, filepath.Join(dir, FileName)} {
		s, err := Read(p)
		if err != nil {
			t.Fatalf("Read(%s): %v", p, err)
		}
		if s.Name != "my-stack" || s.Path != filepath.Join(dir, FileName) || s.File.ID != "io.example.stack" {
			t.Errorf("Read(%s) = name %q, path %q, id %q", p, s.Name, s.Path, s.File.ID)
		}
	}
	_, err := Read(filepath.Join(dir, "missing"))
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "missing")) {
		t.Errorf("Read of a missing dir: %v", err)
	}
	empty := t.TempDir()
	_, err = Read(empty)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(empty, FileName)) {
		t.Errorf("Read of a dir without stack.toml: %v", err)
	}
}

// FuzzDecode feeds arbitrary stack.toml content to Decode: it must never
// panic, and whatever it accepts must give two valid recipes.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte(full))
	f.Add([]byte("[run]\nvariant = 1\n"))
	f.Add([]byte("id = \"x\"\n[labels]\n\"a\" = \"b\"\n[[build]]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Decode("fuzz", "stack.toml", data)
		if err != nil {
			if !strings.Contains(err.Error(), "stack.toml") {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		build, run := s.Recipes()
		if err := build.Validate(); err != nil {
			t.Errorf("accepted stack gives a bad build recipe: %v", err)
		}
		if err := run.Validate(); err != nil {
			t.Errorf("accepted stack gives a bad run recipe: %v", err)
		}
	})
}
