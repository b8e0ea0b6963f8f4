package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/buildpacks/sdk"
)

func TestSpecifiers(t *testing.T) {
	tests := []struct {
		spec    string
		in, out []string
		bad     bool
	}{
		{spec: "", in: []string{"3.11.2", "2.7"}},
		{spec: ">=3.9", in: []string{"3.9", "3.11.2"}, out: []string{"3.8.18"}},
		{spec: ">=3.9, <3.12", in: []string{"3.11.2"}, out: []string{"3.12.0"}},
		{spec: "==3.11.*", in: []string{"3.11.0", "3.11.2"}, out: []string{"3.12.0", "3.1.11"}},
		{spec: "!=3.11.*", in: []string{"3.12.1"}, out: []string{"3.11.2"}},
		{spec: "~=3.11", in: []string{"3.11.2", "3.12"}, out: []string{"4.0", "3.10"}},
		{spec: "~=3.11.1", in: []string{"3.11.2"}, out: []string{"3.12.0", "3.11.0"}},
		{spec: "==3.11", in: []string{"3.11.0"}, out: []string{"3.11.2"}},
		{spec: ">3.11,<=3.12", in: []string{"3.11.2", "3.12"}, out: []string{"3.11", "3.12.1"}},
		{spec: "===3.11.2", in: []string{"3.11.2"}},
		{spec: "3.11", bad: true},
		{spec: ">=3.x", bad: true},
		{spec: ">=3.11.*", bad: true},
		{spec: "~=3", bad: true},
		{spec: ">=3.12rc1", bad: true},
	}
	for _, tt := range tests {
		set, err := parseSpecifiers(tt.spec)
		if (err != nil) != tt.bad {
			t.Errorf("parseSpecifiers(%q) error %v", tt.spec, err)
			continue
		}
		if err != nil {
			continue
		}
		for _, v := range tt.in {
			if !set.contains(mustVersion(t, v)) {
				t.Errorf("%q does not contain %s", tt.spec, v)
			}
		}
		for _, v := range tt.out {
			if set.contains(mustVersion(t, v)) {
				t.Errorf("%q contains %s", tt.spec, v)
			}
		}
	}
}

func mustVersion(t *testing.T, s string) pyVersion {
	t.Helper()
	v, err := parsePyVersion(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func FuzzSpecifiers(f *testing.F) {
	f.Add(">=3.9, <3.13", "3.11.2")
	f.Add("~=3.11.1,!=3.11.5.*", "3.11")
	f.Fuzz(func(t *testing.T, spec, ver string) {
		set, err := parseSpecifiers(spec)
		if err != nil {
			return
		}
		if v, err := parsePyVersion(ver); err == nil {
			set.contains(v)
		}
	})
}

func TestUpstreamVersion(t *testing.T) {
	for deb, want := range map[string]string{"3.11.2-6+deb12u8": "3.11.2", "1:3.13.5-2": "3.13.5", "3.12.0~rc1-1": "3.12.0", "3.9.2-1": "3.9.2"} {
		v, err := upstreamVersion(deb)
		if err != nil || v.String() != want {
			t.Errorf("upstreamVersion(%q) = %v, %v; want %s", deb, v, err, want)
		}
	}
}

func writeApp(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for n, c := range files {
		p := filepath.Join(dir, n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(c), 0o644)
	}
	return dir
}

func TestChoosePython(t *testing.T) {
	bookworm := []candidate{{"python3.11", pyVersion{3, 11, 2}}}
	trixie := []candidate{{"python3.13", pyVersion{3, 13, 5}}, {"python3.12", pyVersion{3, 12, 9}}}
	tests := []struct {
		name    string
		files   map[string]string
		env     string
		cands   []candidate
		want    string
		wantErr string
	}{
		{name: "no request takes newest", cands: trixie, want: "python3.13"},
		{name: "python-version minor", files: map[string]string{".python-version": "3.12\n"}, cands: trixie, want: "python3.12"},
		{name: "python-version patch means the minor", files: map[string]string{".python-version": "3.11.9"}, cands: bookworm, want: "python3.11"},
		{name: "runtime.txt", files: map[string]string{"runtime.txt": "python-3.12.1"}, cands: trixie, want: "python3.12"},
		{name: "requires-python", files: map[string]string{"pyproject.toml": "[project]\nrequires-python = \">=3.9,<3.13\"\n"}, cands: trixie, want: "python3.12"},
		{name: "env", env: ">=3.13", cands: trixie, want: "python3.13"},
		{name: "all must hold", env: "3.12", files: map[string]string{"pyproject.toml": "[project]\nrequires-python = \">=3.13\"\n"}, cands: trixie,
			wantErr: `Debian bookworm provides CPython 3.13.5, 3.12.9, which does not satisfy BP_PYTHON_VERSION "3.12" and requires-python ">=3.13" in pyproject.toml`},
		{name: "unsatisfiable on bookworm", files: map[string]string{"pyproject.toml": "[project]\nrequires-python = \">=3.12\"\n"}, cands: bookworm,
			wantErr: "provides CPython 3.11.2, which does not satisfy requires-python"},
		{name: "bad python-version", files: map[string]string{".python-version": "pypy3.9"}, cands: bookworm, wantErr: ".python-version"},
		{name: "bad runtime.txt", files: map[string]string{"runtime.txt": "3.11"}, cands: bookworm, wantErr: "runtime.txt"},
		{name: "bad requires-python", files: map[string]string{"pyproject.toml": "[project]\nrequires-python = \"3.11\"\n"}, cands: bookworm, wantErr: "requires-python"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := writeApp(t, tt.files)
			pr, err := readPyproject(app)
			if err != nil {
				t.Fatal(err)
			}
			cons, err := versionConstraints(app, pr, tt.env)
			var c candidate
			if err == nil {
				c, err = choosePython(tt.cands, cons, "bookworm")
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.pkg != tt.want {
				t.Errorf("chose %s, want %s", c.pkg, tt.want)
			}
		})
	}
}

func TestParsePyproject(t *testing.T) {
	pr, err := parsePyproject("pyproject.toml", []byte("[project]\nname = \"x\"\ndependencies = [\"flask>=3\", \"gunicorn\"]\n[tool.poetry]\nname = \"x\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(project{Dependencies: []string{"flask>=3", "gunicorn"}, HasPoetry: true}, pr); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := parsePyproject("pyproject.toml", []byte("[project\n")); err == nil || !strings.Contains(err.Error(), "pyproject.toml") {
		t.Errorf("bad TOML: %v", err)
	}
}

func FuzzParsePyproject(f *testing.F) {
	f.Add([]byte("[project]\nrequires-python = \">=3.9\"\ndependencies = [\"a\"]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pr, err := parsePyproject("pyproject.toml", data)
		if err == nil && pr.RequiresPython != "" {
			parseSpecifiers(pr.RequiresPython)
		}
	})
}

func TestRequirementLines(t *testing.T) {
	got := requirementLines([]byte("# deps\n\nflask==3.0.0  # web\n  -r other.txt\n#x\nrequests\n"))
	want := []string{"flask==3.0.0", "-r other.txt", "requests"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		files    map[string]string
		wantPass bool
	}{
		{map[string]string{"requirements.txt": ""}, true},
		{map[string]string{"pyproject.toml": ""}, true},
		{map[string]string{"app.py": ""}, true},
		{map[string]string{".python-version": "3.11"}, true},
		{map[string]string{"lib/mod.py": "", "index.html": ""}, false},
	}
	for _, tt := range tests {
		_, err := detect(context.Background(), &sdk.DetectContext{AppDir: writeApp(t, tt.files), Log: sdk.NewLogger(nil)})
		var df *sdk.DetectFailure
		if tt.wantPass != (err == nil) || (!tt.wantPass && !errors.As(err, &df)) {
			t.Errorf("detect(%v) = %v, want pass %v", tt.files, err, tt.wantPass)
		}
	}
}

func TestSetProcess(t *testing.T) {
	tests := []struct {
		files map[string]string
		want  []sdk.Process
	}{
		{map[string]string{"app.py": "", "main.py": ""}, []sdk.Process{{Type: "web", Command: []string{"python3", "app.py"}, Default: true}}},
		{map[string]string{"main.py": ""}, []sdk.Process{{Type: "web", Command: []string{"python3", "main.py"}, Default: true}}},
		{map[string]string{"app.py": "", "Procfile": "web: x"}, nil},
		{map[string]string{"server.py": ""}, []sdk.Process{{Type: "web", Command: []string{"python3", "server.py"}, Default: true}}},
		{map[string]string{"svc/__main__.py": ""}, []sdk.Process{{Type: "web", Command: []string{"python3", "-m", "svc"}, Default: true}}},
	}
	for _, tt := range tests {
		bc := &sdk.BuildContext{AppDir: writeApp(t, tt.files), Log: sdk.NewLogger(nil)}
		if err := (&builder{bc: bc, log: bc.Log}).setProcess(); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, bc.Launch.Processes); diff != "" {
			t.Errorf("%v (-want +got):\n%s", tt.files, diff)
		}
	}
}

func TestSetProcessServers(t *testing.T) {
	layers := t.TempDir()
	site := filepath.Join(layers, "site")
	if err := os.MkdirAll(filepath.Join(site, "gunicorn"), 0o755); err != nil {
		t.Fatal(err)
	}
	bpDir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(bpDir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bpDir, "bin", "kiln-exec"), []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	bc := &sdk.BuildContext{AppDir: writeApp(t, map[string]string{"wsgi.py": "app = Flask(__name__)\n"}), LayersDir: layers,
		Buildpack: sdk.Info{Dir: bpDir}, Log: sdk.NewLogger(nil)}
	if err := (&builder{bc: bc, log: bc.Log, site: site}).setProcess(); err != nil {
		t.Fatal(err)
	}
	if got := bc.Launch.Processes; len(got) != 1 || got[0].Command[1] != "gunicorn --bind 0.0.0.0:${PORT:-8080} wsgi:app" {
		t.Errorf("processes %+v", got)
	}
	// without gunicorn: the build fails asking for a Procfile, naming wsgi.py
	bc = &sdk.BuildContext{AppDir: writeApp(t, map[string]string{"wsgi.py": ""}), Log: sdk.NewLogger(nil)}
	err := (&builder{bc: bc, log: bc.Log}).setProcess()
	if err == nil || !strings.Contains(err.Error(), "gunicorn is not among the dependencies") {
		t.Errorf("setProcess = %v", err)
	}
}

func TestPackagesKey(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	app := writeApp(t, map[string]string{"vendor/a-1.0-py3-none-any.whl": "wheel a"})
	vendor := filepath.Join(app, "vendor")
	key := func(source string, reqs []string, vendor string) string {
		k, err := packagesKey(source, reqs, vendor, getenv)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	base := key("requirements.txt", []string{"a==1.0"}, vendor)
	if key("requirements.txt", []string{"a==1.0"}, vendor) != base {
		t.Error("the key is not stable")
	}
	changes := map[string]func() string{
		"requirement": func() string { return key("requirements.txt", []string{"a==1.1"}, vendor) },
		"source":      func() string { return key("pyproject.toml", []string{"a==1.0"}, vendor) },
		"no vendor":   func() string { return key("requirements.txt", []string{"a==1.0"}, "") },
		"wheel content": func() string {
			os.WriteFile(filepath.Join(vendor, "a-1.0-py3-none-any.whl"), []byte("wheel A"), 0o644)
			defer os.WriteFile(filepath.Join(vendor, "a-1.0-py3-none-any.whl"), []byte("wheel a"), 0o644)
			return key("requirements.txt", []string{"a==1.0"}, vendor)
		},
		"index": func() string {
			env["PIP_INDEX_URL"] = "https://pypi.example.com/simple"
			defer delete(env, "PIP_INDEX_URL")
			return key("requirements.txt", []string{"a==1.0"}, vendor)
		},
	}
	for name, f := range changes {
		if f() == base {
			t.Errorf("a change of %s keeps the key", name)
		}
	}
	if key("requirements.txt", []string{"a==1.0"}, vendor) != base {
		t.Error("the key did not come back after undoing the changes")
	}
}
