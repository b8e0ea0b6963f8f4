package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/buildpacks/internal/nodepkg"
	"github.com/kiln-build/kiln/buildpacks/internal/semver"
	"github.com/kiln-build/kiln/buildpacks/sdk"
)

func TestNodeRequest(t *testing.T) {
	published := []semver.Version{}
	for _, v := range []string{"18.20.8", "20.9.0", "20.20.2", "22.23.3", "24.21.0", "26.10.0"} {
		published = append(published, semver.MustParse(v))
	}
	tests := []struct {
		name       string
		engines    string
		env        string
		files      map[string]string
		want       string // resolved against published
		wantSource string
		wantExact  bool
		wantErr    string
	}{
		{name: "default", want: "24.21.0", wantSource: "default"},
		{name: "engines range", engines: ">=18 <21", want: "20.20.2", wantSource: "engines.node"},
		{name: "engines caret", engines: "^22.1", want: "22.23.3"},
		{name: "env wins", engines: "18", env: "20.x", want: "20.20.2", wantSource: "BP_NODE_VERSION"},
		{name: "engines beat nvmrc", engines: "18", files: map[string]string{".nvmrc": "20"}, want: "18.20.8"},
		{name: "nvmrc exact", files: map[string]string{".nvmrc": "v20.9.0\n"}, want: "20.9.0", wantSource: ".nvmrc", wantExact: true},
		{name: "nvmrc lts alias", files: map[string]string{".nvmrc": "lts/iron # the 20 line\n"}, want: "20.20.2"},
		{name: "nvmrc lts star", files: map[string]string{".nvmrc": "lts/*"}, want: "24.21.0"},
		{name: "nvmrc node", files: map[string]string{".nvmrc": "node"}, want: "26.10.0"},
		{name: "node-version", files: map[string]string{".node-version": "22"}, want: "22.23.3", wantSource: ".node-version"},
		{name: "nvmrc before node-version", files: map[string]string{".nvmrc": "18", ".node-version": "22"}, want: "18.20.8"},
		{name: "bad engines", engines: "twenty", wantErr: "engines.node in package.json"},
		{name: "bad nvmrc", files: map[string]string{".nvmrc": "lts/unknown-name"}, wantErr: ".nvmrc"},
		{name: "unsatisfiable", engines: ">=99", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for n, c := range tt.files {
				os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644)
			}
			pkg := &nodepkg.Package{Engines: map[string]string{}}
			if tt.engines != "" {
				pkg.Engines["node"] = tt.engines
			}
			r, err := nodeRequest(dir, pkg, tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, ok := semver.MaxSatisfying(published, r.Range)
			if tt.want == "" {
				if ok {
					t.Errorf("%q resolved to %s, want nothing", r.Raw, got)
				}
				return
			}
			if !ok || got.String() != tt.want {
				t.Errorf("%q resolved to %s (%v), want %s", r.Raw, got, ok, tt.want)
			}
			if !strings.Contains(r.Source, tt.wantSource) {
				t.Errorf("source %q, want %q", r.Source, tt.wantSource)
			}
			if _, exact := r.Exact(); exact != tt.wantExact {
				t.Errorf("exact = %v", exact)
			}
		})
	}
}

func TestNpmRequest(t *testing.T) {
	pkg := &nodepkg.Package{Engines: map[string]string{"npm": "^10.5"}}
	r, ok, err := npmRequest(pkg, "")
	if err != nil || !ok || r.Raw != "^10.5" {
		t.Errorf("engines.npm: %+v %v %v", r, ok, err)
	}
	r, ok, err = npmRequest(pkg, "11")
	if err != nil || !ok || r.Source != "BP_NPM_VERSION" {
		t.Errorf("BP_NPM_VERSION: %+v %v %v", r, ok, err)
	}
	if _, ok, _ := npmRequest(&nodepkg.Package{}, ""); ok {
		t.Error("npm request without one")
	}
	if _, _, err := npmRequest(&nodepkg.Package{Engines: map[string]string{"npm": "ten"}}, ""); err == nil {
		t.Error("bad npm range accepted")
	}
}

func TestSetProcess(t *testing.T) {
	bpDir := t.TempDir()
	os.MkdirAll(filepath.Join(bpDir, "bin"), 0o755)
	os.WriteFile(filepath.Join(bpDir, "bin", "kiln-exec"), []byte("helper"), 0o755)
	tests := []struct {
		name  string
		files map[string]string
		pkg   nodepkg.Package
		want  []string // LAYERS stands for the layers directory
	}{
		{"plain script", nil, nodepkg.Package{Scripts: map[string]string{"start": "node server.js"}}, []string{"node", "server.js"}},
		{"words", nil, nodepkg.Package{Scripts: map[string]string{"start": "  next start -p 3000 "}}, []string{"next", "start", "-p", "3000"}},
		{"variable", nil, nodepkg.Package{Scripts: map[string]string{"start": "node server.js --port $PORT"}}, []string{"LAYERS/exec/bin/kiln-exec", "node server.js --port $PORT"}},
		{"list", nil, nodepkg.Package{Scripts: map[string]string{"start": "npm run migrate && node a.js"}}, []string{"LAYERS/exec/bin/kiln-exec", "npm run migrate && node a.js"}},
		{"main", map[string]string{"lib/app.js": ""}, nodepkg.Package{Main: "lib/app.js"}, []string{"node", "lib/app.js"}},
		{"none", nil, nodepkg.Package{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app, layers := t.TempDir(), t.TempDir()
			for n, c := range tt.files {
				os.MkdirAll(filepath.Dir(filepath.Join(app, n)), 0o755)
				os.WriteFile(filepath.Join(app, n), []byte(c), 0o644)
			}
			bc := &sdk.BuildContext{AppDir: app, LayersDir: layers, Buildpack: sdk.Info{Dir: bpDir}, Log: sdk.NewLogger(nil)}
			b := &builder{bc: bc, log: bc.Log, pkg: &tt.pkg}
			if err := b.setProcess(); err != nil {
				t.Fatal(err)
			}
			if tt.want == nil {
				if len(bc.Launch.Processes) != 0 {
					t.Errorf("processes %+v, want none", bc.Launch.Processes)
				}
				return
			}
			for i, a := range tt.want {
				tt.want[i] = strings.Replace(a, "LAYERS", layers, 1)
			}
			want := []sdk.Process{{Type: "web", Command: tt.want, Default: true}}
			if diff := cmp.Diff(want, bc.Launch.Processes); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestDetect(t *testing.T) {
	dir := t.TempDir()
	dc := &sdk.DetectContext{AppDir: dir, Log: sdk.NewLogger(nil)}
	var df *sdk.DetectFailure
	if _, err := detect(context.Background(), dc); !errors.As(err, &df) {
		t.Errorf("detect without package.json = %v", err)
	}
	os.WriteFile(filepath.Join(dir, "package.json"), []byte("{"), 0o644)
	plan, err := detect(context.Background(), dc)
	if err != nil {
		t.Fatalf("detect with a package.json (even a broken one, which the build reports) = %v", err)
	}
	if diff := cmp.Diff(sdk.PlanFor("node", nil), plan); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
}

func TestBuildRejectsBadPackageJSON(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "package.json"), []byte("{\n  \"name\": \"x\",\n}\n"), 0o644)
	bc := &sdk.BuildContext{AppDir: dir, LayersDir: t.TempDir(), Getenv: func(string) string { return "" }, Log: sdk.NewLogger(nil)}
	err := build(context.Background(), bc)
	if err == nil || !strings.Contains(err.Error(), "package.json:3:1") || sdk.Hint(err) == "" {
		t.Errorf("error %v (hint %q), want the position and a hint", err, sdk.Hint(err))
	}
}
