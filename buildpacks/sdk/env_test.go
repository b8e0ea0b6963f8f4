package sdk

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEnvDir(t *testing.T) {
	tests := []struct {
		name  string
		write func(e EnvDir) error
		want  map[string]string
	}{
		{"override", func(e EnvDir) error { return e.Override("GOFLAGS", "-mod=vendor") },
			map[string]string{"GOFLAGS.override": "-mod=vendor"}},
		{"default", func(e EnvDir) error { return e.Default("PORT", "8080") },
			map[string]string{"PORT.default": "8080"}},
		{"append with delim", func(e EnvDir) error { return e.Append("PYTHONPATH", "/l/site", ":") },
			map[string]string{"PYTHONPATH.append": "/l/site", "PYTHONPATH.delim": ":"}},
		{"prepend without delim", func(e EnvDir) error { return e.Prepend("OPTS", "-x ", "") },
			map[string]string{"OPTS.prepend": "-x "}},
		{"prepend path", func(e EnvDir) error { return e.PrependPath("PATH", "/l/bin") },
			map[string]string{"PATH.prepend": "/l/bin", "PATH.delim": ":"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "env.launch")
			if err := tt.write(EnvDir{dir: dir}); err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				b, err := os.ReadFile(filepath.Join(dir, e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				got[e.Name()] = string(b)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEnvDirBadName(t *testing.T) {
	for _, name := range []string{"", "A.B", "A/B", "A=B"} {
		if err := (EnvDir{dir: t.TempDir()}).Override(name, "x"); err == nil {
			t.Errorf("Override(%q) succeeded", name)
		}
	}
}

func TestLayerEnvDirs(t *testing.T) {
	l := &Layer{Path: "/layers/bp/node"}
	got := []string{l.SharedEnv().Path(), l.BuildEnv().Path(), l.LaunchEnv().Path(), l.ProcessEnv("web").Path()}
	want := []string{"/layers/bp/node/env", "/layers/bp/node/env.build", "/layers/bp/node/env.launch", "/layers/bp/node/env.launch/web"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
