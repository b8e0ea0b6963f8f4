package builder

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kiln-build/kiln/lifecycle/buildpackage"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

const fullBuilderTOML = `description = "Debian builder"

[[buildpacks]]
uri = "bps/go"
id = "acme/go"
version = "1.0.0"

[[buildpacks]]
uri = "docker://registry.example/acme/node:2"

[[buildpacks]]
image = "registry.example/acme/python:3"

[[order]]
[[order.group]]
id = "acme/go"
version = "1.0.0"
[[order.group]]
id = "acme/procfile"
optional = true

[[order]]
[[order.group]]
id = "acme/node"

[build]
image = "registry.example/acme/build:bookworm"

[[run.images]]
image = "registry.example/acme/run:bookworm"
mirrors = ["mirror.example/acme/run:bookworm"]

[lifecycle]
version = "0.20.0"
uri = "https://example.com/lifecycle.tgz"

[[build.env]]
name = "BP_GO_FLAGS"
value = "-trimpath"
suffix = "override"

[[build.env]]
name = "PATH"
value = "/opt/tools/bin"
suffix = "prepend"
delim = ":"

[[targets]]
arch = "amd64"
[[targets.distributions]]
name = "debian"
version = "12"

[[targets]]
os = "linux"
arch = "arm64"
variant = "v8"

[system.pre]
buildpacks = [{ id = "acme/ca-certs", version = "1.0.0", optional = true }]

[system.post]
buildpacks = [{ id = "acme/sbom" }]
`

func TestDecodeConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    *Config
		wantErr string
	}{
		{
			name: "full",
			in:   fullBuilderTOML,
			want: &Config{
				Path:        "builder.toml",
				Description: "Debian builder",
				Buildpacks: []ConfigBuildpack{
					{URI: "bps/go", ID: "acme/go", Version: "1.0.0"},
					{URI: "docker://registry.example/acme/node:2"},
					{Image: "registry.example/acme/python:3"},
				},
				Order: []ConfigGroup{
					{Group: []ConfigGroupEntry{{ID: "acme/go", Version: "1.0.0"}, {ID: "acme/procfile", Optional: true}}},
					{Group: []ConfigGroupEntry{{ID: "acme/node"}}},
				},
				Build: ConfigBuild{Image: "registry.example/acme/build:bookworm", Env: []ConfigEnv{
					{Name: "BP_GO_FLAGS", Value: "-trimpath", Suffix: "override"},
					{Name: "PATH", Value: "/opt/tools/bin", Suffix: "prepend", Delim: ":"},
				}},
				Run: ConfigRun{Images: []RunImage{{Image: "registry.example/acme/run:bookworm", Mirrors: []string{"mirror.example/acme/run:bookworm"}}}},
				Targets: []ConfigTarget{
					{OS: "linux", Arch: "amd64", Distributions: []ConfigDistribution{{Name: "debian", Version: "12"}}},
					{OS: "linux", Arch: "arm64", Variant: "v8"},
				},
				System: ConfigSystem{
					Pre:  ConfigSystemGroup{Buildpacks: []ConfigGroupEntry{{ID: "acme/ca-certs", Version: "1.0.0", Optional: true}}},
					Post: ConfigSystemGroup{Buildpacks: []ConfigGroupEntry{{ID: "acme/sbom"}}},
				},
				Warnings: []string{"builder.toml: [lifecycle] 0.20.0 is not put into the builder: kiln runs its own lifecycle (Platform API 0.15, Buildpack API 0.7 to 0.12)"},
			},
		},
		{
			name: "legacy stack",
			in: `[[buildpacks]]
uri = "bp"
[stack]
id = "io.buildpacks.stacks.bookworm"
build-image = "b:1"
run-image = "r:1"
run-image-mirrors = ["m/r:1"]
`,
			want: &Config{
				Path:       "builder.toml",
				Buildpacks: []ConfigBuildpack{{URI: "bp"}},
				Stack:      ConfigStack{ID: "io.buildpacks.stacks.bookworm", BuildImage: "b:1", RunImage: "r:1", RunImageMirrors: []string{"m/r:1"}},
			},
		},
		{name: "unknown top-level key", in: "colour = \"red\"\n[build]\nimage = \"b\"\n[[run.images]]\nimage = \"r\"\n", wantErr: `builder.toml: unknown key "colour"`},
		{name: "unknown buildpack key", in: "[[buildpacks]]\nuri = \"x\"\npath = \"y\"\n[build]\nimage = \"b\"\n[[run.images]]\nimage = \"r\"\n", wantErr: `builder.toml: unknown key "buildpacks.path"`},
		{name: "unknown order key", in: "[[order]]\n[[order.group]]\nid = \"a\"\nrequired = true\n[build]\nimage = \"b\"\n[[run.images]]\nimage = \"r\"\n", wantErr: `unknown key "order.group.required"`},
		{name: "several unknown keys", in: "a = 1\nb = 2\n[build]\nimage = \"b\"\n[[run.images]]\nimage = \"r\"\n", wantErr: `unknown keys "a", "b"`},
		{name: "build env bad name", in: "[build]\nimage = \"b\"\n[[build.env]]\nname = \"X=Y\"\nvalue = \"1\"\n[[run.images]]\nimage = \"r\"\n", wantErr: `[[build.env]] #1: name "X=Y"`},
		{name: "build env bad suffix", in: "[build]\nimage = \"b\"\n[[build.env]]\nname = \"X\"\nsuffix = \"later\"\n[[run.images]]\nimage = \"r\"\n", wantErr: `[[build.env]] #1 (X): suffix "later"`},
		{name: "build env delim", in: "[build]\nimage = \"b\"\n[[build.env]]\nname = \"X\"\ndelim = \":\"\n[[run.images]]\nimage = \"r\"\n", wantErr: `delim needs suffix append or prepend`},
		{name: "build env twice", in: "[build]\nimage = \"b\"\n[[build.env]]\nname = \"X\"\n[[build.env]]\nname = \"X\"\n[[run.images]]\nimage = \"r\"\n", wantErr: `[[build.env]] #2: X is given twice`},
		{name: "target without arch", in: "[build]\nimage = \"b\"\n[[run.images]]\nimage = \"r\"\n[[targets]]\nos = \"linux\"\n", wantErr: `[[targets]] #1: arch is missing`},
		{name: "system bad id", in: "[build]\nimage = \"b\"\n[[run.images]]\nimage = \"r\"\n[system.pre]\nbuildpacks = [{id = \"\"}]\n", wantErr: `[system.pre] buildpacks #1`},
		{name: "unknown key in targets", in: "[build]\nimage = \"b\"\n[[run.images]]\nimage = \"r\"\n[[targets]]\narch = \"amd64\"\nflavour = \"x\"\n", wantErr: `unknown key "targets.flavour"`},
		{
			name: "image extensions",
			in: `[[extensions]]
uri = "ext/curl"
id = "samples/curl"
[[extensions]]
image = "registry.example/ext/tree:1"
[[order-extensions]]
[[order-extensions.group]]
id = "samples/curl"
version = "0.0.1"
optional = true
[build]
image = "b"
[[run.images]]
image = "r"
`,
			want: &Config{
				Path:            "builder.toml",
				Extensions:      []ConfigBuildpack{{URI: "ext/curl", ID: "samples/curl"}, {Image: "registry.example/ext/tree:1"}},
				OrderExtensions: []ConfigGroup{{Group: []ConfigGroupEntry{{ID: "samples/curl", Version: "0.0.1", Optional: true}}}},
				Build:           ConfigBuild{Image: "b"},
				Run:             ConfigRun{Images: []RunImage{{Image: "r"}}},
			},
		},
		{name: "extension without uri", in: "[[extensions]]\nid = \"a\"\n[build]\nimage = \"b\"\n[[run.images]]\nimage = \"r\"\n", wantErr: "builder.toml: [[extensions]] #1: uri is missing"},
		{name: "unknown extension key", in: "[[extensions]]\nuri = \"x\"\npath = \"y\"\n[build]\nimage = \"b\"\n[[run.images]]\nimage = \"r\"\n", wantErr: `builder.toml: unknown key "extensions.path"`},
		{name: "empty extensions group", in: "[[order-extensions]]\n[build]\nimage = \"b\"\n[[run.images]]\nimage = \"r\"\n", wantErr: "builder.toml: [[order-extensions]] #1: empty group"},
		{name: "extensions group entry without id", in: "[[order-extensions]]\n[[order-extensions.group]]\nversion = \"1\"\n[build]\nimage = \"b\"\n[[run.images]]\nimage = \"r\"\n", wantErr: "[[order-extensions]] #1, [[order-extensions.group]] #1: id is missing"},
		{name: "buildpack without uri", in: "[[buildpacks]]\nid = \"a\"\n[build]\nimage = \"b\"\n[[run.images]]\nimage = \"r\"\n", wantErr: "builder.toml: [[buildpacks]] #1: uri is missing"},
		{name: "buildpack with uri and image", in: "[[buildpacks]]\nuri = \"a\"\nimage = \"b\"\n[build]\nimage = \"b\"\n[[run.images]]\nimage = \"r\"\n", wantErr: "[[buildpacks]] #1: give uri or image, not both"},
		{name: "buildpack with a bad id", in: "[[buildpacks]]\nuri = \"a\"\nid = \"a b\"\n[build]\nimage = \"b\"\n[[run.images]]\nimage = \"r\"\n", wantErr: "[[buildpacks]] #1: id \"a b\""},
		{name: "empty group", in: "[[order]]\n[build]\nimage = \"b\"\n[[run.images]]\nimage = \"r\"\n", wantErr: "builder.toml: [[order]] #1: empty group"},
		{name: "group entry without id", in: "[[order]]\n[[order.group]]\nversion = \"1\"\n[build]\nimage = \"b\"\n[[run.images]]\nimage = \"r\"\n", wantErr: "[[order]] #1, [[order.group]] #1: id is missing"},
		{name: "no build image", in: "[[run.images]]\nimage = \"r\"\n", wantErr: "builder.toml: no build image"},
		{name: "build images differ", in: "[build]\nimage = \"b\"\n[stack]\nbuild-image = \"c\"\nrun-image = \"r\"\n", wantErr: `[build] image "b" and [stack] build-image "c" differ`},
		{name: "run image without image", in: "[build]\nimage = \"b\"\n[[run.images]]\nmirrors = [\"m\"]\n", wantErr: "builder.toml: [[run.images]] #1: image is missing"},
		{name: "no run image", in: "[build]\nimage = \"b\"\n", wantErr: "builder.toml: no run image"},
		{name: "syntax error", in: "[build\nimage = \"b\"\n", wantErr: "parsing builder.toml"},
		{name: "wrong type", in: "description = 1\n", wantErr: "parsing builder.toml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeConfig("builder.toml", []byte(tc.in))
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("no error, want %q", tc.wantErr)
				}
				if !containsAll(err.Error(), tc.wantErr) {
					t.Errorf("error %q, want it to contain %q", err, tc.wantErr)
				}
				if !buildpackage.IsInputError(err) {
					t.Errorf("error %v is not an InputError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got, cmpopts.EquateEmpty(), cmpopts.IgnoreFields(Config{}, "Lifecycle")); d != "" {
				t.Errorf("config (-want +got):\n%s", d)
			}
		})
	}
}

func TestConfigDerived(t *testing.T) {
	c, err := DecodeConfig("builder.toml", []byte(fullBuilderTOML))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.BuildImage(); got != "registry.example/acme/build:bookworm" {
		t.Errorf("BuildImage() = %q", got)
	}
	wantOrder := descriptor.Order{
		{Group: []descriptor.GroupEntry{{ID: "acme/go", Version: "1.0.0"}, {ID: "acme/procfile", Optional: true}}},
		{Group: []descriptor.GroupEntry{{ID: "acme/node"}}},
	}
	if d := cmp.Diff(wantOrder, c.DescriptorOrder()); d != "" {
		t.Errorf("order (-want +got):\n%s", d)
	}
	legacy, err := DecodeConfig("builder.toml", []byte("[stack]\nbuild-image = \"b\"\nrun-image = \"r\"\nrun-image-mirrors = [\"m\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(RunImages{Images: []RunImage{{Image: "r", Mirrors: []string{"m"}}}}, legacy.RunImages()); d != "" {
		t.Errorf("legacy run images (-want +got):\n%s", d)
	}
	if legacy.BuildImage() != "b" {
		t.Errorf("legacy BuildImage() = %q", legacy.BuildImage())
	}
}

func FuzzDecodeConfig(f *testing.F) {
	f.Add([]byte(fullBuilderTOML))
	f.Add([]byte("[stack]\nid = \"x\"\nbuild-image = \"b\"\nrun-image = \"r\"\n"))
	f.Add([]byte("[[order]]\n[[order.group]]\nid = 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeConfig("fuzz.toml", data)
		if err != nil {
			if !buildpackage.IsInputError(err) {
				t.Fatalf("error %v is not an InputError", err)
			}
			return
		}
		if c.BuildImage() == "" || len(c.RunImages().Images) == 0 {
			t.Fatalf("accepted without build or run image: %+v", c)
		}
		for _, r := range c.RunImages().Images {
			if r.Image == "" {
				t.Fatal("accepted a run image without image")
			}
		}
		for _, g := range c.DescriptorOrder() {
			if len(g.Group) == 0 {
				t.Fatal("accepted an empty group")
			}
			for _, e := range g.Group {
				if e.ID == "" {
					t.Fatal("accepted a group entry without id")
				}
			}
		}
		for _, b := range c.Buildpacks {
			if b.Ref() == "" || b.Ref() == "docker://" {
				t.Fatal("accepted a buildpack without uri")
			}
		}
	})
}
