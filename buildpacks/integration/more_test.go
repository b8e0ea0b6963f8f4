package integration

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/internal/buildphase"
	"github.com/kiln-build/kiln/lifecycle/failure"
)

// writeWheel writes a pure-Python wheel of package kilnhello into dir.
func writeWheel(t *testing.T, dir, greeting string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "kilnhello-1.0-py3-none-any.whl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	files := []struct{ name, body string }{
		{"kilnhello/__init__.py", fmt.Sprintf("GREETING = %q\n", greeting)},
		{"kilnhello-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: kilnhello\nVersion: 1.0\n"},
		{"kilnhello-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: kiln-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
	}
	var record strings.Builder
	for _, fl := range files {
		w, err := zw.Create(fl.name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(fl.body))
		sum := sha256.Sum256([]byte(fl.body))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", fl.name, base64.RawURLEncoding.EncodeToString(sum[:]), len(fl.body))
	}
	record.WriteString("kilnhello-1.0.dist-info/RECORD,,\n")
	w, _ := zw.Create("kilnhello-1.0.dist-info/RECORD")
	w.Write([]byte(record.String()))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestPythonVendoredWheel installs a requirement from vendor/ with pip
// (no index) and reuses the packages layer when nothing changed.
func TestPythonVendoredWheel(t *testing.T) {
	ctx := context.Background()
	s := newSite(t, nil)
	s.putSource("testdata/python-vendor", nil)
	writeWheel(t, filepath.Join(s.app, "vendor"), "hello from a vendored wheel")
	o := s.mustBuild(ctx)
	if !strings.Contains(o.log, "--no-index --find-links") {
		t.Errorf("pip did not use the vendor directory:\n%s", o.log)
	}
	want := map[string]bool{"python": true, "pip": true, "packages": true, "pip-cache": true}
	got := map[string]bool{}
	for n := range s.layerTypes("kiln/python") {
		got[n] = true
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("layers (-want +got):\n%s", diff)
	}
	url := s.serve(o)
	if _, body := get(t, url+"/"); body != "hello from a vendored wheel\n" {
		t.Errorf("GET / = %q\n%s", body, o.log)
	}

	// unchanged requirements: the packages layer is reused
	s.restore()
	s.putSource("testdata/python-vendor", nil)
	writeWheel(t, filepath.Join(s.app, "vendor"), "hello from a vendored wheel")
	o = s.mustBuild(ctx)
	if !strings.Contains(o.log, "Reusing cached layer packages\n") || strings.Contains(o.log, "Running python3") && strings.Contains(o.log, "pip install") {
		t.Errorf("the packages layer was not reused:\n%s", o.log)
	}

	// a changed requirements file rebuilds it
	s.restore()
	s.putSource("testdata/python-vendor", map[string][2]string{"requirements.txt": {"kilnhello==1.0", "kilnhello>=1.0"}})
	writeWheel(t, filepath.Join(s.app, "vendor"), "hello again")
	o = s.mustBuild(ctx)
	if !strings.Contains(o.log, "Rebuilding layer packages (launch+build+cache): requirements-sha256 changed") {
		t.Errorf("the packages layer was not rebuilt:\n%s", o.log)
	}
	url = s.serve(o)
	if _, body := get(t, url+"/"); body != "hello again\n" {
		t.Errorf("GET / after the change = %q", body)
	}
}

// TestNodeBuildScript builds an app with a build script: dev dependencies
// are there for the build, gone at launch.
func TestNodeBuildScript(t *testing.T) {
	ctx := context.Background()
	s := newSite(t, nil)
	s.putSource("testdata/node-build", nil)
	o := s.mustBuild(ctx)
	if !strings.Contains(o.log, "npm-cli.js run build") || !strings.Contains(o.log, "npm-cli.js prune --omit=dev") {
		t.Errorf("the build script or the prune did not run:\n%s", o.log)
	}
	url := s.serve(o)
	want := "built with is-number: true\none minute is 60000 ms\ndev dependencies at launch: false\n"
	if _, body := get(t, url+"/"); body != want {
		t.Errorf("GET / = %q, want %q\n%s", body, want, o.log)
	}
	modules := filepath.Join(s.layers, "kiln_nodejs", "modules", "node_modules")
	if exists(filepath.Join(modules, "is-number")) || !exists(filepath.Join(modules, "ms")) {
		t.Errorf("launch modules are not the production dependencies")
	}
	if !exists(filepath.Join(s.layers, "kiln_nodejs", "dev-modules", "node_modules", "is-number")) {
		t.Errorf("dev dependencies were not cached")
	}

	s.restore()
	s.putSource("testdata/node-build", map[string][2]string{"server.js": {"one minute is", "a minute is"}})
	o = s.mustBuild(ctx)
	for _, l := range []string{"dev-modules", "modules", "node", "npm"} {
		if !strings.Contains(o.log, "Reusing cached layer "+l+"\n") {
			t.Errorf("layer %s not reused:\n%s", l, o.log)
		}
	}
	url = s.serve(o)
	if _, body := get(t, url+"/"); !strings.Contains(body, "a minute is 60000 ms") {
		t.Errorf("GET / after the change = %q", body)
	}
}

// TestNodeSPAWithStatic builds a site whose index.html only exists after
// `npm run build`: Node.js builds it, the static buildpack serves it.
func TestNodeSPAWithStatic(t *testing.T) {
	s := newSite(t, nil)
	s.putSource("testdata/node-spa", nil)
	o := s.mustBuild(context.Background())
	if diff := cmp.Diff([]string{"kiln/nodejs", "kiln/static"}, o.group); diff != "" {
		t.Fatalf("group (-want +got):\n%s\n%s", diff, o.log)
	}
	p, _ := o.meta.Process("web")
	if p.BuildpackID != "kiln/static" {
		t.Errorf("web process from %s, want kiln/static", p.BuildpackID)
	}
	url := s.serve(o)
	if _, body := get(t, url+"/"); body != "<h1>built by npm run build</h1>\n" {
		t.Errorf("GET / = %q\n%s", body, o.log)
	}
}

// TestBadInput checks that broken apps fail the build with the
// buildpack's exit code and a message saying what to fix.
func TestBadInput(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		env     map[string]string
		wantBP  string
		wantLog []string
	}{
		{
			name:    "unparseable go.mod",
			files:   map[string]string{"go.mod": "module m\n\ngo 1.22\nrequire (\n", "main.go": "package main\nfunc main() {}\n"},
			wantBP:  "kiln/go",
			wantLog: []string{"ERROR: ", "go.mod:5:", "To fix this: correct go.mod"},
		},
		{
			name:    "failing go build",
			files:   map[string]string{"go.mod": "module m\n\ngo 1.22\n", "main.go": "package main\nfunc main() { undefinedThing() }\n"},
			wantBP:  "kiln/go",
			wantLog: []string{"undefined: undefinedThing", "To fix this: fix the compile errors above"},
		},
		{
			name:    "unpublished go version",
			files:   map[string]string{"go.mod": "module m\n\ngo 1.22\n", "main.go": "package main\nfunc main() {}\n"},
			env:     map[string]string{"BP_GO_VERSION": "1.99"},
			wantBP:  "kiln/go",
			wantLog: []string{"no Go 1.99 release at or above 1.99", "To fix this:"},
		},
		{
			name:    "unparseable package.json",
			files:   map[string]string{"package.json": "{\n  \"name\": \"x\",\n  \"scripts\": {\"start\": \"node s.js\"\n}\n"},
			wantBP:  "kiln/nodejs",
			wantLog: []string{"package.json:4:2: invalid JSON: unexpected end of JSON input", "To fix this: fix package.json"},
		},
		{
			name:    "unsatisfiable engines.node",
			files:   map[string]string{"package.json": `{"engines":{"node":">=99"},"scripts":{"start":"node s.js"}}`},
			wantBP:  "kiln/nodejs",
			wantLog: []string{`no Node.js release satisfies ">=99" (engines.node in package.json)`, "To fix this: change engines.node"},
		},
		{
			name: "failing npm ci",
			files: map[string]string{
				"package.json":      `{"name":"x","version":"1.0.0","dependencies":{"ms":"2.1.3"},"scripts":{"start":"node s.js"}}`,
				"package-lock.json": `{"name":"x","version":"1.0.0","lockfileVersion":3,"requires":true,"packages":{"":{"name":"x","version":"1.0.0"}}}`,
			},
			wantBP:  "kiln/nodejs",
			wantLog: []string{"npm-cli.js ci --omit=dev", "To fix this: fix the npm error above"},
		},
		{
			name:    "unsatisfiable requires-python",
			files:   map[string]string{"pyproject.toml": "[project]\nname = \"x\"\nrequires-python = \">=3.12\"\n", "app.py": ""},
			wantBP:  "kiln/python",
			wantLog: []string{"Debian bookworm provides CPython 3.11.2, which does not satisfy requires-python \">=3.12\"", "To fix this:"},
		},
		{
			name:    "Procfile without processes",
			files:   map[string]string{"Procfile": "# web: to do\n"},
			wantBP:  "kiln/procfile",
			wantLog: []string{"Procfile: the Procfile defines no processes", `To fix this: add a line such as "web: ./server"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSite(t, tt.env)
			src := t.TempDir()
			for n, c := range tt.files {
				if err := os.WriteFile(filepath.Join(src, n), []byte(c), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			s.putSource(src, nil)
			o := s.build(context.Background())
			var fe *failure.Error
			var be *buildphase.BuildpackError
			if !errors.As(o.buildErr, &fe) || fe.Code != failure.BuildpackFailed || !errors.As(o.buildErr, &be) || be.ID != tt.wantBP || be.ExitCode != 1 {
				t.Fatalf("build error %v, want %s failing with exit code 1 (phase code %d)\n%s", o.buildErr, tt.wantBP, failure.BuildpackFailed, o.log)
			}
			for _, w := range tt.wantLog {
				if !strings.Contains(o.log, w) {
					t.Errorf("log does not contain %q:\n%s", w, o.log)
				}
			}
		})
	}
}
