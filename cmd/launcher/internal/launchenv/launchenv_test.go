package launchenv

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/kiln-build/kiln/internal/env"
)

// tree writes files under root; a name ending in "*" is written executable
// (without the star); a name ending in "/" is an empty directory.
func tree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, strings.TrimSuffix(name, "*"))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, "*") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
}

func pick(e *env.Env, names ...string) map[string]string {
	out := map[string]string{}
	for _, n := range names {
		if v, ok := e.Lookup(n); ok {
			out[n] = v
		}
	}
	return out
}

func TestBuild(t *testing.T) {
	tests := []struct {
		name    string
		base    []string
		files   map[string]string
		bps     []string
		process string
		want    map[string]string // checked variables; absent = must be unset
	}{
		{
			name: "bin and lib of every buildpack, later buildpacks first",
			base: []string{"PATH=/usr/bin:/bin", "LD_LIBRARY_PATH=/usr/lib"},
			bps:  []string{"acme/one", "two"},
			files: map[string]string{
				"acme_one/a/bin/":  "",
				"acme_one/b/bin/":  "",
				"acme_one/b/lib/":  "",
				"acme_one/c/":      "",
				"two/z/bin/":       "",
				"two/z/include/":   "",
				"acme_one/a.toml":  "[types]\nlaunch = true\n",
				"other_bp/x/bin/":  "",
				"two/z/pkgconfig/": "",
			},
			want: map[string]string{
				"PATH":            "<L>/two/z/bin:<L>/acme_one/a/bin:<L>/acme_one/b/bin:/usr/bin:/bin",
				"LD_LIBRARY_PATH": "<L>/acme_one/b/lib:/usr/lib",
				"CPATH":           "",
				"PKG_CONFIG_PATH": "",
			},
		},
		{
			name: "env file rules across layers and buildpacks",
			base: []string{"OVR=user", "APP=user", "PRE=user", "DEF=user", "EMPTYDEF="},
			bps:  []string{"one", "two"},
			files: map[string]string{
				"one/a/env/OVR":               "one-a",
				"one/b/env/OVR.override":      "one-b",
				"one/a/env/APP.append":        "one-a",
				"one/a/env/APP.delim":         ":",
				"one/a/env/PRE.prepend":       "one-a",
				"one/a/env/DEF.default":       "one-a",
				"one/a/env/EMPTYDEF.default":  "one-a",
				"one/b/env/EMPTYDEF.default":  "one-b",
				"one/a/env/NEW.default":       "one-a",
				"one/a/env/RAW.append":        "x",
				"one/b/env/RAW.append":        "y",
				"one/a/env/IGN.unknown":       "ignored",
				"two/a/env.launch/APP.append": "two-a",
				"two/a/env.launch/APP.delim":  ",",
				"two/a/env/PRE.prepend":       "two-a",
				"two/a/env/PRE.delim":         "|",
				"two/a/env.build/BUILD":       "build-only",
				"two/a/env/SPACE":             " spaced value\n",
			},
			want: map[string]string{
				"OVR":      "one-b",
				"APP":      "user:one-a,two-a",
				"PRE":      "two-a|one-auser",
				"DEF":      "user",
				"EMPTYDEF": "one-a",
				"NEW":      "one-a",
				"RAW":      "xy",
				"SPACE":    " spaced value\n",
			},
		},
		{
			name:    "process-specific env.launch files apply last within the layer",
			bps:     []string{"one"},
			process: "web",
			files: map[string]string{
				"one/a/env/V":                    "env",
				"one/a/env.launch/V":             "launch",
				"one/a/env.launch/web/V":         "web",
				"one/a/env.launch/worker/V":      "worker",
				"one/a/env/L.append":             "1",
				"one/a/env.launch/L.append":      "2",
				"one/a/env.launch/web/L.append":  "3",
				"one/a/env.launch/web/D.default": "web",
				"one/a/env/D.default":            "env",
			},
			want: map[string]string{"V": "web", "L": "123", "D": "env"},
		},
		{
			name: "process-specific files ignored for a user command",
			bps:  []string{"one"},
			files: map[string]string{
				"one/a/env.launch/V":     "launch",
				"one/a/env.launch/web/V": "web",
			},
			want: map[string]string{"V": "launch"},
		},
		{
			name:    "exec.d runs in order, sees earlier output, overrides files",
			bps:     []string{"one", "two"},
			process: "web",
			base:    []string{"BPL_GREETING=hi"},
			files: map[string]string{
				"one/a/env/FROM_FILE":        "file",
				"one/a/exec.d/10-first*":     "#!/bin/sh\nprintf 'FROM_FILE = \"execd\"\\nORDER = \"one-a\"\\nGREETING = \"%s\"\\n' \"$BPL_GREETING\" >&3\n",
				"one/b/exec.d/00-second*":    "#!/bin/sh\nprintf 'ORDER = \"%s,one-b\"\\n' \"$ORDER\" >&3\n",
				"two/a/exec.d/00-third*":     "#!/bin/sh\nprintf 'ORDER = \"%s,two-a\"\\nCWD = \"%s\"\\n' \"$ORDER\" \"$(basename \"$PWD\")\" >&3\n",
				"one/a/exec.d/web/00-proc*":  "#!/bin/sh\nprintf 'ORDER = \"%s,web\"\\n' \"$ORDER\" >&3\n",
				"one/a/exec.d/worker/00-no*": "#!/bin/sh\nexit 1\n",
				"two/a/exec.d/silent*":       "#!/bin/sh\necho to-stdout\n",
			},
			want: map[string]string{
				"FROM_FILE": "execd",
				"ORDER":     "one-a,one-b,two-a,web",
				"GREETING":  "hi",
				"CWD":       "app",
			},
		},
		{
			name: "launcher variables and /cnb paths removed",
			base: []string{
				"CNB_APP_DIR=/workspace", "CNB_LAYERS_DIR=/layers", "CNB_PROCESS_TYPE=web",
				"CNB_EXEC_ENV=test", "PATH=/cnb/process:/usr/bin:/cnb/lifecycle/:/bin",
			},
			files: map[string]string{},
			want: map[string]string{
				"CNB_EXEC_ENV": "test",
				"PATH":         "/usr/bin:/bin",
			},
		},
		{
			name:  "PATH of only launcher entries is unset",
			base:  []string{"PATH=/cnb/process"},
			files: map[string]string{},
			want:  map[string]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			layers := filepath.Join(root, "layers")
			app := filepath.Join(root, "app")
			tree(t, layers, tt.files)
			if err := os.MkdirAll(app, 0o755); err != nil {
				t.Fatal(err)
			}
			var stdout bytes.Buffer
			l := Layout{LayersDir: layers, AppDir: app, Buildpacks: tt.bps}
			e, err := Build(context.Background(), tt.base, l, Options{Process: tt.process, Stdout: &stdout})
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			names := []string{"CNB_APP_DIR", "CNB_LAYERS_DIR", "CNB_PROCESS_TYPE"}
			for n := range tt.want {
				names = append(names, n)
			}
			want := map[string]string{}
			for n, v := range tt.want {
				if v == "" && (n == "CPATH" || n == "PKG_CONFIG_PATH") {
					continue // must stay unset at launch
				}
				want[n] = strings.ReplaceAll(v, "<L>", layers)
			}
			if diff := cmp.Diff(want, pick(e, names...)); diff != "" {
				t.Errorf("environment mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildExecDOutputReachesStdout(t *testing.T) {
	root := t.TempDir()
	tree(t, root, map[string]string{
		"bp/l/exec.d/say*": "#!/bin/sh\necho hello-out\necho hello-err >&2\n",
	})
	var out, errOut bytes.Buffer
	l := Layout{LayersDir: root, AppDir: root, Buildpacks: []string{"bp"}}
	if _, err := Build(context.Background(), nil, l, Options{Stdout: &out, Stderr: &errOut}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "hello-out\n" || errOut.String() != "hello-err\n" {
		t.Errorf("stdout %q, stderr %q; want hello-out and hello-err", out.String(), errOut.String())
	}
}

func TestBuildExecDFailures(t *testing.T) {
	tests := []struct {
		name    string
		program string
		mode    string // "*" executable, "" not
		wantIn  string
	}{
		{"non-zero exit", "#!/bin/sh\nexit 3\n", "*", "exit status 3"},
		{"not a TOML table of strings", "#!/bin/sh\necho 'N = 1' >&3\n", "*", "not a string"},
		{"malformed TOML", "#!/bin/sh\necho 'N = ' >&3\n", "*", "parsing exec.d output"},
		{"not executable", "#!/bin/sh\n", "", "permission denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			tree(t, root, map[string]string{"bp/l/exec.d/prog" + tt.mode: tt.program})
			l := Layout{LayersDir: root, AppDir: root, Buildpacks: []string{"bp"}}
			_, err := Build(context.Background(), nil, l, Options{})
			var ee *ExecDError
			if !errors.As(err, &ee) {
				t.Fatalf("got %v, want an *ExecDError", err)
			}
			want := filepath.Join(root, "bp/l/exec.d/prog")
			if ee.Path != want || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("got path %q, error %q; want path %q and an error naming it and saying %q", ee.Path, err, want, tt.wantIn)
			}
		})
	}
}

func TestBuildBadEnvFileIsNotExecDError(t *testing.T) {
	root := t.TempDir()
	tree(t, root, map[string]string{"bp/l/env/": ""})
	// A directory where a layer should have files is fine; a file that
	// cannot be read is not.
	p := filepath.Join(root, "bp/l/env/V")
	if err := os.Symlink(filepath.Join(root, "missing"), p); err != nil {
		t.Fatal(err)
	}
	l := Layout{LayersDir: root, AppDir: root, Buildpacks: []string{"bp"}}
	_, err := Build(context.Background(), nil, l, Options{})
	var ee *ExecDError
	if err == nil || errors.As(err, &ee) || !strings.Contains(err.Error(), p) {
		t.Fatalf("got %v, want a plain error naming %s", err, p)
	}
}

func TestProfiles(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		process string
		want    []string
	}{
		{
			name: "layer scripts, then process scripts, then .profile",
			files: map[string]string{
				"layers/one/b/profile.d/1.sh":     "",
				"layers/one/a/profile.d/2.sh":     "",
				"layers/one/a/profile.d/1.sh":     "",
				"layers/two/a/profile.d/0.sh":     "",
				"layers/one/a/profile.d/web/9.sh": "",
				"layers/two/a/profile.d/web/0.sh": "",
				"layers/two/a/profile.d/wrk/0.sh": "",
				"app/.profile":                    "",
			},
			process: "web",
			want: []string{
				"layers/one/a/profile.d/1.sh", "layers/one/a/profile.d/2.sh",
				"layers/one/b/profile.d/1.sh", "layers/two/a/profile.d/0.sh",
				"layers/one/a/profile.d/web/9.sh", "layers/two/a/profile.d/web/0.sh",
				"app/.profile",
			},
		},
		{
			name: "user command: no process scripts, .profile directory ignored",
			files: map[string]string{
				"layers/one/a/profile.d/1.sh":     "",
				"layers/one/a/profile.d/web/9.sh": "",
				"app/.profile/":                   "",
			},
			want: []string{"layers/one/a/profile.d/1.sh"},
		},
		{
			name:  "nothing",
			files: map[string]string{"app/": ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			tree(t, root, tt.files)
			l := Layout{LayersDir: filepath.Join(root, "layers"), AppDir: filepath.Join(root, "app"), Buildpacks: []string{"one", "two"}}
			got, err := l.Profiles(tt.process)
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				got[i] = strings.TrimPrefix(got[i], root+"/")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Profiles mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
