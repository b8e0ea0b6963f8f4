package debian

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNormalize(t *testing.T) {
	got := Recipe{Suite: "bookworm", Packages: []string{"git", "ca-certificates", "git"}, UID: 1234}.normalize()
	want := Recipe{
		Suite:      "bookworm",
		Mirror:     DefaultMirror,
		Components: []string{"main"},
		Variant:    DefaultVariant,
		Packages:   []string{"ca-certificates", "git"},
		Arch:       hostArch(),
		Kind:       KindBuild,
		User:       "cnb",
		Group:      "cnb",
		UID:        1234,
		GID:        1234,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("normalize (-want +got):\n%s", diff)
	}
}

func TestKey(t *testing.T) {
	base := Recipe{Suite: "bookworm", Packages: []string{"a", "b"}, Env: map[string]string{"X": "1", "Y": "2"}}
	same := []Recipe{
		{Suite: "bookworm", Packages: []string{"b", "a", "a"}, Env: map[string]string{"Y": "2", "X": "1"}},
		{Suite: "bookworm", Packages: []string{"a", "b"}, Env: map[string]string{"X": "1", "Y": "2"}, Mirror: DefaultMirror, UID: DefaultUID, User: "cnb"},
	}
	different := []Recipe{
		{Suite: "trixie", Packages: []string{"a", "b"}, Env: map[string]string{"X": "1", "Y": "2"}},
		{Suite: "bookworm", Packages: []string{"a"}, Env: map[string]string{"X": "1", "Y": "2"}},
		{Suite: "bookworm", Packages: []string{"a", "b"}, Env: map[string]string{"X": "1"}},
		{Suite: "bookworm", Packages: []string{"a", "b"}, Env: map[string]string{"X": "1", "Y": "2"}, UID: 1234},
		{Suite: "bookworm", Packages: []string{"a", "b"}, Env: map[string]string{"X": "1", "Y": "2"}, Kind: KindRun},
		{Suite: "bookworm", Packages: []string{"a", "b"}, Env: map[string]string{"X": "1", "Y": "2"}, Remove: []string{"/usr/bin/apt"}},
	}
	k := base.Key()
	if len(k) != 64 {
		t.Fatalf("Key() = %q, want 64 hex digits", k)
	}
	for i, r := range same {
		if r.Key() != k {
			t.Errorf("same[%d] has key %s, want %s", i, r.Key(), k)
		}
	}
	for i, r := range different {
		if r.Key() == k {
			t.Errorf("different[%d] has the same key as the base recipe", i)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := Recipe{Suite: "bookworm"}
	tests := []struct {
		name string
		edit func(*Recipe)
		want string // empty: valid
	}{
		{"minimal", func(*Recipe) {}, ""},
		{"full", func(r *Recipe) {
			r.Packages = []string{"ca-certificates", "libc6:amd64", "tzdata=2024a-0+deb12u1", "curl/bookworm-backports"}
			r.Sources = []string{"deb http://deb.debian.org/debian-security bookworm-security main"}
			r.Kind, r.RootUser = KindRun, true
			r.StackID = "io.kiln.stacks.bookworm"
			r.Env = map[string]string{"PATH": "/opt/bin:/usr/bin", "LANG": "C.UTF-8"}
			r.Labels = map[string]string{"io.buildpacks.base.maintainer": "kiln"}
			r.Remove = []string{"/usr/bin/apt*", "/var/lib/apt"}
		}, ""},
		{"no suite", func(r *Recipe) { r.Suite = "" }, "recipe suite: required"},
		{"suite option", func(r *Recipe) { r.Suite = "--help" }, "recipe suite"},
		{"mirror", func(r *Recipe) { r.Mirror = "not a url" }, "recipe mirror"},
		{"variant", func(r *Recipe) { r.Variant = "tiny" }, `recipe variant: "tiny" is not one of`},
		{"package option", func(r *Recipe) { r.Packages = []string{"--allow-unauthenticated"} }, `recipe packages: "--allow-unauthenticated"`},
		{"package list in one", func(r *Recipe) { r.Packages = []string{"a,b"} }, `recipe packages: "a,b"`},
		{"arch", func(r *Recipe) { r.Arch = "x86_64" }, `recipe arch: "x86_64"`},
		{"kind", func(r *Recipe) { r.Kind = "both" }, "recipe kind"},
		{"root build image", func(r *Recipe) { r.RootUser = true }, "recipe root-user: only a run image"},
		{"user", func(r *Recipe) { r.User = "Root" }, "recipe user"},
		{"uid", func(r *Recipe) { r.UID = -5 }, "recipe uid"},
		{"stack id", func(r *Recipe) { r.StackID = "my stack" }, "recipe stack-id"},
		{"env name", func(r *Recipe) { r.Env = map[string]string{"A-B": "x"} }, "recipe env"},
		{"reserved env", func(r *Recipe) { r.Env = map[string]string{"CNB_USER_ID": "0"} }, "recipe env: CNB_USER_ID is set by kiln"},
		{"reserved label", func(r *Recipe) { r.Labels = map[string]string{LabelStackID: "x"} }, "recipe labels: io.buildpacks.stack.id is set by kiln"},
		{"relative remove", func(r *Recipe) { r.Remove = []string{"usr/bin/apt"} }, "recipe remove"},
		{"remove root", func(r *Recipe) { r.Remove = []string{"/"} }, "recipe remove"},
		{"bad pattern", func(r *Recipe) { r.Remove = []string{"/usr/[bin"} }, "recipe remove"},
		{"source line", func(r *Recipe) { r.Sources = []string{"http://example.org bookworm main"} }, "recipe sources"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			tc.edit(&r)
			err := r.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
