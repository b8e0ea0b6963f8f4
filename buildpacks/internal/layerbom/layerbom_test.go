package layerbom

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/internal/bom"
)

// writeFiles writes files (path: content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// goSum is go.sum's line for the module the test app uses, from kiln's.
func goSum(t *testing.T, mod string) string {
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, mod+" ") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n") + "\n"
}

// TestGoBinary builds a small app offline (its one module comes from the
// module cache) with a versioned replacement and a directory
// replacement, and compares GoBinary with `go version -m`.
func TestGoBinary(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"go.mod": "module example.com/app\n\ngo 1.22\n\n" +
			"require (\n\tgithub.com/google/go-cmp v0.6.0\n\texample.com/local v0.0.0\n)\n\n" +
			"replace github.com/google/go-cmp v0.6.0 => github.com/google/go-cmp v0.7.0\n\n" +
			"replace example.com/local => ./local\n",
		"go.sum":         goSum(t, "github.com/google/go-cmp v0.7.0"),
		"main.go":        "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/local\"\n\t\"github.com/google/go-cmp/cmp\"\n)\n\nfunc main() { fmt.Println(cmp.Diff(1, 2), local.X) }\n",
		"local/go.mod":   "module example.com/local\n\ngo 1.22\n",
		"local/local.go": "package local\n\nconst X = 1\n",
	})
	bin := filepath.Join(dir, "app")
	cmd := exec.Command(gobin, "build", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=0", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	comps, err := GoBinary(bin)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range comps {
		var props []string
		for _, p := range c.Properties {
			props = append(props, p.Name+"="+p.Value)
		}
		got[c.Name] = strings.TrimSpace(c.Version + " " + c.PURL + " " + strings.Join(props, " "))
	}
	v, err := exec.Command(gobin, "env", "GOVERSION").Output()
	if err != nil {
		t.Fatal(err)
	}
	goVersion := strings.TrimSpace(string(v))
	want := map[string]string{
		"stdlib":                   goVersion + " pkg:golang/stdlib@" + strings.TrimPrefix(goVersion, "go") + " kiln:go:toolchain=" + goVersion,
		"example.com/app":          "(devel) pkg:golang/example.com/app kiln:go:main=true",
		"github.com/google/go-cmp": "v0.7.0 pkg:golang/github.com/google/go-cmp@v0.7.0 kiln:go:replaces=github.com/google/go-cmp@v0.6.0",
		"example.com/local":        "(devel) pkg:golang/example.com/local kiln:go:replaced-by=./local",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GoBinary (-want +got):\n%s", diff)
	}

	// the same modules and versions as go version -m
	out, err := exec.Command(gobin, "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	fromGo := map[string]string{}
	var last string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 3 && (f[0] == "mod" || f[0] == "dep"):
			last = f[1]
			fromGo[f[1]] = f[2]
		case len(f) >= 3 && f[0] == "=>" && isDirPath(f[1]):
			fromGo[last] = f[2] // a directory: the module keeps its path
		case len(f) >= 3 && f[0] == "=>":
			delete(fromGo, last)
			fromGo[f[1]] = f[2]
		}
	}
	versions := map[string]string{}
	for _, c := range comps {
		if c.Name != "stdlib" {
			versions[c.Name] = c.Version
		}
	}
	if diff := cmp.Diff(fromGo, versions); diff != "" {
		t.Errorf("modules differ from go version -m (-go +GoBinary):\n%s\n%s", diff, out)
	}
}

func TestGoBinaryNotGo(t *testing.T) {
	p := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := GoBinary(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("err = %v, want one naming %s", err, p)
	}
}

func TestWriteFilesReproducible(t *testing.T) {
	dir := t.TempDir()
	d := bom.Document{Subject: bom.Component{Name: "kiln/go:app"}, Components: []bom.Component{{Name: "a", Version: "1"}}}
	read := func() string {
		var s string
		for _, ext := range Exts {
			b, err := os.ReadFile(filepath.Join(dir, "app.sbom."+ext))
			if err != nil {
				t.Fatal(err)
			}
			s += string(b)
		}
		return s
	}
	if err := WriteFiles(dir, "app", d); err != nil {
		t.Fatal(err)
	}
	first := read()
	if err := WriteFiles(dir, "app", d); err != nil {
		t.Fatal(err)
	}
	if read() != first {
		t.Error("the same document gives other bytes")
	}
}
