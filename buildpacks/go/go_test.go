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

func TestParseGoMod(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    goMod
		wantErr string
	}{
		{"go line", "module example.com/hello\n\ngo 1.22\n", goMod{Module: "example.com/hello", Go: "1.22"}, ""},
		{"toolchain", "module m\ngo 1.22.0\ntoolchain go1.22.5\nrequire golang.org/x/text v0.14.0\n", goMod{Module: "m", Go: "1.22.0", Toolchain: "1.22.5"}, ""},
		{"toolchain default", "module m\ngo 1.21\ntoolchain default\n", goMod{Module: "m", Go: "1.21"}, ""},
		{"no go line", "module m\n", goMod{Module: "m"}, ""},
		{"unknown directive", "module m\ngo 1.22\nfrobnicate x\n", goMod{}, "go.mod:3: unknown directive: frobnicate"},
		{"bad go version", "module m\ngo one.two\n", goMod{}, "go.mod:2"},
		{"no module", "go 1.22\n", goMod{}, "no module line"},
		{"unbalanced", "module m\nrequire (\n", goMod{}, "go.mod:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseGoMod("go.mod", []byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseGoMod(f *testing.F) {
	f.Add([]byte("module m\ngo 1.22\ntoolchain go1.22.5\n"))
	f.Add([]byte("module m\nrequire (\n\tx v1\n)\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseGoMod("go.mod", data)
		if err != nil {
			return
		}
		if m.Module == "" {
			t.Fatalf("accepted a go.mod without module: %q", data)
		}
		// whatever parses must lead to a request or a clear error, never a panic
		_, _ = request(m, "")
	})
}

var published = []string{"1.21.0", "1.21.13", "1.22.0", "1.22.5", "1.22.12", "1.23rc1", "1.23.0", "1.23.4", "1.24rc2"}

func TestVersionResolution(t *testing.T) {
	tests := []struct {
		name    string
		mod     goMod
		env     string
		want    string
		wantSrc string
		wantErr string
	}{
		{name: "toolchain line is exact", mod: goMod{Go: "1.22.0", Toolchain: "1.22.5"}, want: "1.22.5", wantSrc: "toolchain"},
		{name: "toolchain older than go line is ignored", mod: goMod{Go: "1.23.0", Toolchain: "1.22.5"}, want: "1.23.4"},
		{name: "go line minor takes newest patch", mod: goMod{Go: "1.22"}, want: "1.22.12", wantSrc: "newest 1.22 release"},
		{name: "go line patch is a minimum", mod: goMod{Go: "1.21.5"}, want: "1.21.13"},
		{name: "go prerelease is exact", mod: goMod{Go: "1.24rc2"}, want: "1.24rc2"},
		{name: "old go line takes newest", mod: goMod{Go: "1.16"}, want: "1.23.4", wantSrc: "predates"},
		{name: "no go line takes newest stable", mod: goMod{}, want: "1.23.4"},
		{name: "env exact", mod: goMod{Go: "1.21"}, env: "go1.22.5", want: "1.22.5", wantSrc: "BP_GO_VERSION"},
		{name: "env line", mod: goMod{Go: "1.21"}, env: "1.22.x", want: "1.22.12"},
		{name: "env line of the go line keeps its minimum", mod: goMod{Go: "1.22.6"}, env: "1.22", want: "1.22.12"},
		{name: "env latest", mod: goMod{Go: "1.21"}, env: "latest", want: "1.23.4"},
		{name: "env older than go line", mod: goMod{Go: "1.23.0"}, env: "1.22.5", wantErr: "older than go.mod"},
		{name: "env line older than go line", mod: goMod{Go: "1.23.0"}, env: "1.22", wantErr: "older than go.mod"},
		{name: "env garbage", mod: goMod{}, env: "one", wantErr: "not a Go version"},
		{name: "unpublished line", mod: goMod{Go: "1.30"}, wantErr: "no Go 1.30 release at or above 1.30"},
		{name: "patch above newest", mod: goMod{Go: "1.22.99"}, wantErr: "no Go 1.22 release at or above 1.22.99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := request(tt.mod, tt.env)
			var got string
			if err == nil {
				got, err = resolve(r, published)
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
			if got != tt.want {
				t.Errorf("version %s, want %s", got, tt.want)
			}
			if !strings.Contains(r.Source, tt.wantSrc) {
				t.Errorf("source %q does not mention %q", r.Source, tt.wantSrc)
			}
		})
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestFindTargets(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		module  string
		env     string
		want    []target
		wantErr string
	}{
		{
			name:   "root main",
			files:  map[string]string{"main.go": "package main\nfunc main() {}\n", "cmd/tool/main.go": "package main\n"},
			module: "example.com/hello/v2",
			want:   []target{{".", "hello"}},
		},
		{
			name:   "cmd dirs",
			files:  map[string]string{"lib.go": "package lib\n", "cmd/web/main.go": "package main\n", "cmd/worker/main.go": "package main\n", "cmd/notmain/x.go": "package x\n"},
			module: "example.com/svc",
			want:   []target{{"./cmd/web", "web"}, {"./cmd/worker", "worker"}},
		},
		{
			name:   "cmd named like the module is the web process",
			files:  map[string]string{"cmd/podcli/main.go": "package main\n", "cmd/podinfo/main.go": "package main\n"},
			module: "github.com/stefanprodan/podinfo",
			want:   []target{{"./cmd/podinfo", "podinfo"}, {"./cmd/podcli", "podcli"}},
		},
		{
			name:   "several cmds, none clear",
			files:  map[string]string{"cmd/a/main.go": "package main\n", "cmd/b/main.go": "package main\n"},
			module: "example.com/x", wantErr: "BP_GO_TARGETS=./cmd/a:./cmd/b",
		},
		{
			name:   "mains elsewhere are listed",
			files:  map[string]string{"hello/main.go": "package main\n", "outyet/main.go": "package main\n", "lib/l.go": "package lib\n"},
			module: "golang.org/x/example", wantErr: "are hello, outyet; choose with BP_GO_TARGETS=./hello",
		},
		{
			name:   "build-ignored main file does not count",
			files:  map[string]string{"lib.go": "package lib\n", "gen.go": "//go:build ignore\n\npackage main\n"},
			module: "m", wantErr: "no main package",
		},
		{
			name:   "env targets",
			files:  map[string]string{"main.go": "package main\n", "cmd/worker/main.go": "package main\n"},
			module: "m", env: "./cmd/worker:.",
			want: []target{{"./cmd/worker", "worker"}, {".", "m"}},
		},
		{name: "env outside", files: map[string]string{"main.go": "package main\n"}, module: "m", env: "../x", wantErr: "inside the app"},
		{name: "env not main", files: map[string]string{"lib/l.go": "package lib\n"}, module: "m", env: "./lib", wantErr: "not a directory with a main package"},
		{
			name:   "name clash",
			files:  map[string]string{"a/web/main.go": "package main\n", "b/web/main.go": "package main\n"},
			module: "m", env: "./a/web:./b/web", wantErr: "both build a binary called \"web\"",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := findTargets(writeFiles(t, tt.files), tt.module, tt.env, "amd64")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestSplitFlags(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"", nil, false},
		{"-tags netgo  -v", []string{"-tags", "netgo", "-v"}, false},
		{`-ldflags="-s -w -X main.version=1.2"`, []string{"-ldflags=-s -w -X main.version=1.2"}, false},
		{`-ldflags '-X "main.name=a b"'`, []string{"-ldflags", `-X "main.name=a b"`}, false},
		{`a\ b "c\"d"`, []string{"a b", `c"d`}, false},
		{`"open`, nil, true},
		{`'open`, nil, true},
		{`trailing\`, nil, true},
	}
	for _, tt := range tests {
		got, err := splitFlags(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("splitFlags(%q) error %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("splitFlags(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func FuzzSplitFlags(f *testing.F) {
	f.Add(`-ldflags="-s -w" -tags 'a b' x\ y`)
	f.Fuzz(func(t *testing.T, s string) {
		args, err := splitFlags(s)
		if err != nil {
			return
		}
		for _, a := range args {
			if len(a) > len(s) {
				t.Fatalf("argument %q longer than the input %q", a, s)
			}
		}
	})
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		wantPass bool
		wantMsg  string
	}{
		{"go.mod", map[string]string{"go.mod": "module m\n"}, true, "found go.mod"},
		{"go files without go.mod", map[string]string{"main.go": "package main\n"}, false, "run `go mod init"},
		{"a directory of a module", map[string]string{"main.go": "package main\n"}, false, "when the module's go.mod is in a parent directory, build from the module root (--path <module root>) and choose the main package with BP_GO_TARGETS"},
		{"GOPATH-era vendor/", map[string]string{"main.go": "package main\n", "vendor/github.com/x/y/y.go": "package y\n"}, false, "GOPATH-era project"},
		{"GOPATH-era dep", map[string]string{"main.go": "package main\n", "Gopkg.toml": ""}, false, "`go mod init <its import path"},
		{"nothing", map[string]string{"index.html": ""}, false, "no go.mod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log strings.Builder
			dc := &sdk.DetectContext{AppDir: writeFiles(t, tt.files), Log: sdk.NewLogger(&log)}
			plan, err := detect(context.Background(), dc)
			var df *sdk.DetectFailure
			if tt.wantPass {
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(sdk.PlanFor("go", nil), plan); diff != "" {
					t.Errorf("plan (-want +got):\n%s", diff)
				}
				if !strings.Contains(log.String(), tt.wantMsg) {
					t.Errorf("log %q does not contain %q", log.String(), tt.wantMsg)
				}
				return
			}
			if !errors.As(err, &df) || !strings.Contains(df.Reason, tt.wantMsg) {
				t.Errorf("error %v, want a detect failure with %q", err, tt.wantMsg)
			}
		})
	}
}

// TestTreeSHA256: the binaries' digest, which decides whether the previous
// image's app layer is kept, changes with any name, mode or byte.
func TestTreeSHA256(t *testing.T) {
	write := func(files map[string]string, mode os.FileMode) string {
		dir := t.TempDir()
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), mode); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	base, err := treeSHA256(write(map[string]string{"web": "ELF1", "worker": "ELF2"}, 0o755))
	if err != nil {
		t.Fatal(err)
	}
	same, _ := treeSHA256(write(map[string]string{"worker": "ELF2", "web": "ELF1"}, 0o755))
	if same != base {
		t.Error("the same binaries give another digest")
	}
	for name, files := range map[string]map[string]string{
		"content": {"web": "ELF1", "worker": "ELF3"},
		"name":    {"web": "ELF1", "work": "ELF2"},
		"missing": {"web": "ELF1"},
	} {
		if d, _ := treeSHA256(write(files, 0o755)); d == base {
			t.Errorf("%s changed, digest did not", name)
		}
	}
	if d, _ := treeSHA256(write(map[string]string{"web": "ELF1", "worker": "ELF2"}, 0o700)); d == base {
		t.Error("mode changed, digest did not")
	}
	dir := write(map[string]string{"web": "x"}, 0o755)
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := treeSHA256(dir); err == nil {
		t.Error("a directory among the binaries was not refused")
	}
}

// The build output kept from the last build loses whatever is not one of
// this build's targets (a dropped command must not ship), keeps the rest.
func TestKeepOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bin")
	for _, n := range []string{"web", "old-worker"} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), []byte(n), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := keepOnly(dir, []target{{Name: "web"}, {Name: "new"}}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "web" {
		t.Errorf("kept %v, want only web", entries)
	}
	if err := keepOnly(filepath.Join(t.TempDir(), "none"), nil); err != nil {
		t.Errorf("no kept output: %v", err)
	}
}
