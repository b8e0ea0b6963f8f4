package descriptor

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const fullBuildpackTOML = `
api = "0.12"

[buildpack]
id = "kiln/go"
name = "Go"
version = "1.2.3"
homepage = "https://example.com/go"
clear-env = true
description = "Builds Go apps"
keywords = ["go", "golang"]
sbom-formats = ["application/vnd.cyclonedx+json", "application/spdx+json"]

[[buildpack.licenses]]
type = "Apache-2.0"
uri = "https://www.apache.org/licenses/LICENSE-2.0"

[[buildpack.exec-env]]
name = "production"

[[buildpack.exec-env]]
name = "test"

[[targets]]
os = "linux"
arch = "amd64"

[[targets]]
os = "linux"
arch = "arm64"
variant = "v8"
[[targets.distros]]
name = "debian"
version = "12"

[metadata]
go-versions = ["1.22", "1.23"]
`

func TestDecodeBuildpack(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    *Buildpack
		wantErr string // substring; empty means success
	}{
		{
			name: "every field",
			in:   fullBuildpackTOML,
			want: &Buildpack{
				API: "0.12",
				Buildpack: BuildpackInfo{
					ID: "kiln/go", Name: "Go", Version: "1.2.3", Homepage: "https://example.com/go",
					ClearEnv: true, Description: "Builds Go apps", Keywords: []string{"go", "golang"},
					SBOMFormats: []string{"application/vnd.cyclonedx+json", "application/spdx+json"},
					ExecEnv:     ExecEnvs{"production", "test"},
					Licenses:    []License{{Type: "Apache-2.0", URI: "https://www.apache.org/licenses/LICENSE-2.0"}},
				},
				Targets: []Target{
					{OS: "linux", Arch: "amd64"},
					{OS: "linux", Arch: "arm64", Variant: "v8", Distros: []Distro{{Name: "debian", Version: "12"}}},
				},
				Metadata: map[string]any{"go-versions": []any{"1.22", "1.23"}},
			},
		},
		{
			name: "composite with nested order and exec-env as strings",
			in: `api = "0.12"
[buildpack]
id = "kiln/all"
version = "0.1.0"
exec-env = ["test"]
[[order]]
[[order.group]]
id = "kiln/go"
version = "1.2.3"
[[order.group]]
id = "kiln/procfile"
version = "1.0.0"
optional = true
exec-env = ["production"]
[[order]]
[[order.group]]
id = "kiln/static"
`,
			want: &Buildpack{
				API:       "0.12",
				Buildpack: BuildpackInfo{ID: "kiln/all", Version: "0.1.0", ExecEnv: ExecEnvs{"test"}},
				Order: Order{
					{Group: []GroupEntry{{ID: "kiln/go", Version: "1.2.3"}, {ID: "kiln/procfile", Version: "1.0.0", Optional: true, ExecEnv: ExecEnvs{"production"}}}},
					{Group: []GroupEntry{{ID: "kiln/static"}}},
				},
			},
		},
		{
			name: "bionic stack becomes a target",
			in: `api = "0.9"
[buildpack]
id = "old/bp"
version = "0.0.1"
[[stacks]]
id = "io.buildpacks.stacks.bionic"
mixins = ["build:git"]
`,
			want: &Buildpack{
				API:       "0.9",
				Buildpack: BuildpackInfo{ID: "old/bp", Version: "0.0.1"},
				Targets:   []Target{{OS: "linux", Arch: "amd64", Distros: []Distro{{Name: "ubuntu", Version: "18.04"}}}},
			},
		},
		{
			name: "star stack matches any target",
			in:   "api = \"0.8\"\n[buildpack]\nid = \"a\"\nversion = \"1\"\n[[stacks]]\nid = \"*\"\n",
			want: &Buildpack{API: "0.8", Buildpack: BuildpackInfo{ID: "a", Version: "1"}, Targets: []Target{{}}},
		},
		{
			name: "other stacks add nothing",
			in:   "api = \"0.8\"\n[buildpack]\nid = \"a\"\nversion = \"1\"\n[[stacks]]\nid = \"io.buildpacks.stacks.jammy\"\n",
			want: &Buildpack{API: "0.8", Buildpack: BuildpackInfo{ID: "a", Version: "1"}},
		},
		{
			name: "targets win over stacks",
			in:   "api = \"0.10\"\n[buildpack]\nid = \"a\"\nversion = \"1\"\n[[targets]]\nos = \"linux\"\n[[stacks]]\nid = \"io.buildpacks.stacks.bionic\"\n",
			want: &Buildpack{API: "0.10", Buildpack: BuildpackInfo{ID: "a", Version: "1"}, Targets: []Target{{OS: "linux"}}},
		},
		{
			name: "arch-variant and distributions spellings",
			in:   "api = \"0.12\"\n[buildpack]\nid = \"a\"\nversion = \"1\"\n[[targets]]\nos = \"linux\"\narch-variant = \"v7\"\n[[targets.distributions]]\nname = \"debian\"\n",
			want: &Buildpack{API: "0.12", Buildpack: BuildpackInfo{ID: "a", Version: "1"}, Targets: []Target{{OS: "linux", Variant: "v7", Distros: []Distro{{Name: "debian"}}}}},
		},
		{name: "missing api", in: "[buildpack]\nid = \"a\"\nversion = \"1\"\n", wantErr: "api is missing"},
		{name: "bad api", in: "api = \"zero\"\n[buildpack]\nid = \"a\"\nversion = \"1\"\n", wantErr: `API version "zero"`},
		{name: "api too new", in: "api = \"0.13\"\n[buildpack]\nid = \"a\"\nversion = \"1\"\n", wantErr: "unsupported buildpack API"},
		{name: "api too old", in: "api = \"0.6\"\n[buildpack]\nid = \"a\"\nversion = \"1\"\n", wantErr: "unsupported buildpack API"},
		{name: "missing id", in: "api = \"0.12\"\n[buildpack]\nversion = \"1\"\n", wantErr: "[buildpack] id is missing"},
		{name: "reserved id", in: "api = \"0.12\"\n[buildpack]\nid = \"config\"\nversion = \"1\"\n", wantErr: `id "config" is reserved`},
		{name: "reserved id any case", in: "api = \"0.12\"\n[buildpack]\nid = \"SBOM\"\nversion = \"1\"\n", wantErr: "is reserved"},
		{name: "bad id character", in: "api = \"0.12\"\n[buildpack]\nid = \"a_b\"\nversion = \"1\"\n", wantErr: `character '_' is not allowed`},
		{name: "missing version", in: "api = \"0.12\"\n[buildpack]\nid = \"a\"\n", wantErr: "version is missing"},
		{name: "unknown sbom format", in: "api = \"0.12\"\n[buildpack]\nid = \"a\"\nversion = \"1\"\nsbom-formats = [\"text/plain\"]\n", wantErr: `unsupported media type "text/plain"`},
		{name: "exec-env with slash", in: "api = \"0.12\"\n[buildpack]\nid = \"a\"\nversion = \"1\"\nexec-env = [\"a/b\"]\n", wantErr: "'/' is reserved"},
		{name: "order entry without id", in: "api = \"0.12\"\n[buildpack]\nid = \"a\"\nversion = \"1\"\n[[order]]\n[[order.group]]\nversion = \"1\"\n", wantErr: "[[order.group]] #1: id is missing"},
		{name: "stacks with order", in: "api = \"0.9\"\n[buildpack]\nid = \"a\"\nversion = \"1\"\n[[stacks]]\nid = \"*\"\n[[order]]\n[[order.group]]\nid = \"b\"\nversion = \"1\"\n", wantErr: "must not declare [[stacks]]"},
		{name: "syntax error names the line", in: "api = \"0.12\"\n[buildpack]\nid = \"a\"\nversion = = \"1\"\n", wantErr: "parsing mem/buildpack.toml: line 4:"},
		{name: "type error", in: "api = \"0.12\"\n[buildpack]\nid = 7\nversion = \"1\"\n", wantErr: "parsing mem/buildpack.toml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeBuildpack("mem/buildpack.toml", []byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), "mem/buildpack.toml") {
					t.Errorf("error %q does not name the file", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeBuildpack: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnsupportedAPIIsMarked(t *testing.T) {
	_, err := DecodeBuildpack("x", []byte("api = \"1.0\"\n[buildpack]\nid = \"a\"\nversion = \"1\"\n"))
	if !errors.Is(err, ErrUnsupportedAPI) {
		t.Fatalf("error = %v, want ErrUnsupportedAPI", err)
	}
}

// writeBuildpackDir creates a buildpack dir with the given descriptor and
// executable files (relative paths).
func writeBuildpackDir(t *testing.T, dir, descriptor string, files ...string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, BuildpackFile), []byte(descriptor), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadBuildpack(t *testing.T) {
	const component = "api = \"0.12\"\n[buildpack]\nid = \"a\"\nversion = \"1.0.0\"\n"
	const composite = "api = \"0.12\"\n[buildpack]\nid = \"c\"\nversion = \"1.0.0\"\n[[order]]\n[[order.group]]\nid = \"a\"\nversion = \"1.0.0\"\n"
	tests := []struct {
		name        string
		descriptor  string
		files       []string
		wantTargets []Target
		wantErr     string
	}{
		{name: "component infers linux", descriptor: component, files: []string{"bin/detect", "bin/build"}, wantTargets: []Target{{OS: "linux"}}},
		{name: "component keeps declared targets", descriptor: component + "[[targets]]\nos = \"linux\"\narch = \"arm64\"\n", files: []string{"bin/detect", "bin/build"}, wantTargets: []Target{{OS: "linux", Arch: "arm64"}}},
		{name: "windows build infers windows", descriptor: component, files: []string{"bin/detect.bat", "bin/build.bat"}, wantTargets: []Target{{OS: "windows"}}},
		{name: "composite has no targets", descriptor: composite},
		{name: "component without bin", descriptor: component, wantErr: "needs bin/detect and bin/build"},
		{name: "component without build", descriptor: component, files: []string{"bin/detect"}, wantErr: "needs bin/detect and bin/build"},
		{name: "composite with bin", descriptor: composite, files: []string{"bin/detect"}, wantErr: "must not contain bin/detect or bin/build"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "bp")
			writeBuildpackDir(t, dir, tc.descriptor, tc.files...)
			got, err := ReadBuildpack(dir)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), filepath.Join(dir, BuildpackFile)) {
					t.Fatalf("error = %v, want one naming %s and containing %q", err, filepath.Join(dir, BuildpackFile), tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadBuildpack: %v", err)
			}
			if got.Dir != dir {
				t.Errorf("Dir = %q, want %q", got.Dir, dir)
			}
			if diff := cmp.Diff(tc.wantTargets, got.Targets); diff != "" {
				t.Errorf("targets mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadBuildpackMissingFile(t *testing.T) {
	dir := t.TempDir()
	_, err := ReadBuildpack(dir)
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), filepath.Join(dir, BuildpackFile)) {
		t.Fatalf("error = %v, want a not-exist error naming the file", err)
	}
}

func TestWriteBuildpackRoundTrip(t *testing.T) {
	want, err := DecodeBuildpack("full", []byte(fullBuildpackTOML))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := WriteBuildpack(dir, want); err != nil {
		t.Fatalf("WriteBuildpack: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, BuildpackFile))
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeBuildpack("written", data)
	if err != nil {
		t.Fatalf("decoding written file: %v\n%s", err, data)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip mismatch (-want +got):\n%s\nfile:\n%s", diff, data)
	}
}

func TestExecEnvsSupports(t *testing.T) {
	tests := []struct {
		list ExecEnvs
		env  string
		want bool
	}{
		{nil, "production", true},
		{ExecEnvs{"*"}, "test", true},
		{ExecEnvs{"production"}, "production", true},
		{ExecEnvs{"production"}, "test", false},
		{ExecEnvs{"test", "development"}, "development", true},
	}
	for _, tc := range tests {
		if got := tc.list.Supports(tc.env); got != tc.want {
			t.Errorf("%v.Supports(%q) = %v, want %v", tc.list, tc.env, got, tc.want)
		}
	}
}
