package buildpackage

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestDecodeConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    *Config
		wantErr string
	}{
		{
			name: "empty file packages the directory itself",
			in:   "",
			want: &Config{Path: "package.toml", Buildpack: ConfigURI{URI: "."}},
		},
		{
			name: "meta buildpack with dependencies",
			in: `[buildpack]
uri = "meta"
[[dependencies]]
uri = "../go"
[[dependencies]]
uri = "docker://registry.example/node:1"
[[dependencies]]
image = "registry.example/python:2"
[platform]
os = "linux"
`,
			want: &Config{
				Path:      "package.toml",
				Buildpack: ConfigURI{URI: "meta"},
				Dependencies: []Dependency{
					{URI: "../go"}, {URI: "docker://registry.example/node:1"}, {Image: "registry.example/python:2"},
				},
				Platform: ConfigPlatform{OS: "linux"},
			},
		},
		{
			name: "two targets",
			in:   "[buildpack]\nuri = \".\"\n[[targets]]\narch = \"amd64\"\n[[targets]]\narch = \"arm64\"\n",
			want: &Config{
				Path: "package.toml", Buildpack: ConfigURI{URI: "."},
				Targets: []ConfigTarget{{Arch: "amd64"}, {Arch: "arm64"}},
			},
		},
		{
			name: "one target",
			in:   "[buildpack]\nuri = \".\"\n[[targets]]\nos = \"linux\"\narch = \"arm64\"\nvariant = \"v8\"\n[[targets.distributions]]\nname = \"debian\"\nversions = [\"12\"]\n",
			want: &Config{
				Path: "package.toml", Buildpack: ConfigURI{URI: "."},
				Targets: []ConfigTarget{{OS: "linux", Arch: "arm64", Variant: "v8", Distributions: []ConfigDistro{{Name: "debian", Versions: []string{"12"}}}}},
			},
		},
		{name: "unknown top-level key", in: "foo = 1\n[buildpack]\nuri = \".\"\n", wantErr: `package.toml: unknown key "foo"`},
		{name: "unknown nested key", in: "[buildpack]\nuri = \".\"\npath = \"x\"\n", wantErr: `package.toml: unknown key "buildpack.path"`},
		{name: "unknown dependency key", in: "[[dependencies]]\nurl = \"x\"\n", wantErr: `unknown key "dependencies.url"`},
		{name: "dependency without uri", in: "[[dependencies]]\n", wantErr: "package.toml: [[dependencies]] #1: uri is missing"},
		{name: "dependency with uri and image", in: "[[dependencies]]\nuri = \"a\"\nimage = \"b\"\n", wantErr: "[[dependencies]] #1: give uri or image, not both"},
		{name: "windows platform", in: "[platform]\nos = \"windows\"\n", wantErr: `[platform] os "windows"`},
		{name: "windows target", in: "[[targets]]\nos = \"windows\"\n", wantErr: `[[targets]] os "windows"`},
		{name: "syntax error", in: "[buildpack\n", wantErr: "parsing package.toml"},
		{name: "wrong type", in: "[buildpack]\nuri = 3\n", wantErr: "parsing package.toml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeConfig("package.toml", []byte(tc.in))
			if tc.wantErr != "" {
				wantErr(t, err, tc.wantErr)
				if err != nil && !IsInputError(err) {
					t.Errorf("error %v is not an InputError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("config (-want +got):\n%s", d)
			}
		})
	}
}

func FuzzDecodeConfig(f *testing.F) {
	f.Add([]byte("[buildpack]\nuri = \"meta\"\n[[dependencies]]\nuri = \"../go\"\n[[dependencies]]\nimage = \"x/y:1\"\n"))
	f.Add([]byte("[[targets]]\nos = \"linux\"\narch = \"arm64\"\n[platform]\nos = \"linux\"\n"))
	f.Add([]byte("[[dependencies]]\nuri = 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeConfig("fuzz.toml", data)
		if err != nil {
			if !IsInputError(err) {
				t.Fatalf("error %v is not an InputError", err)
			}
			return
		}
		if c.Buildpack.URI == "" {
			t.Fatal("decoded config has no buildpack uri")
		}
		for i, d := range c.Dependencies {
			if (d.URI == "") == (d.Image == "") {
				t.Fatalf("dependency %d has uri %q and image %q", i, d.URI, d.Image)
			}
		}
		if len(c.Targets) > 1 {
			t.Fatalf("%d targets accepted", len(c.Targets))
		}
	})
}
