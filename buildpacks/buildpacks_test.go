package buildpacks

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/google/go-cmp/cmp"
)

type descriptor struct {
	API       string `toml:"api"`
	Buildpack struct {
		ID      string `toml:"id"`
		Version string `toml:"version"`
		Name    string `toml:"name"`
	} `toml:"buildpack"`
	Targets []struct {
		OS   string `toml:"os"`
		Arch string `toml:"arch"`
	} `toml:"targets"`
}

func TestPackage(t *testing.T) {
	dir := t.TempDir()
	if err := Package(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	for i, d := range Dirs(dir) {
		name := Names[i]
		var desc descriptor
		if _, err := toml.DecodeFile(filepath.Join(d, "buildpack.toml"), &desc); err != nil {
			t.Fatal(err)
		}
		if desc.API != "0.12" || desc.Buildpack.ID != ID(name) || desc.Buildpack.Version != Version || desc.Buildpack.Name == "" {
			t.Errorf("%s: buildpack.toml %+v", name, desc)
		}
		if len(desc.Targets) != 1 || desc.Targets[0].OS != "linux" || desc.Targets[0].Arch != "amd64" {
			t.Errorf("%s: targets %+v", name, desc.Targets)
		}
		build := filepath.Join(d, "bin", "build")
		fi, err := os.Stat(build)
		if err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("%s: bin/build %v %v", name, fi, err)
		}
		if l, err := os.Readlink(filepath.Join(d, "bin", "detect")); err != nil || l != "build" {
			t.Errorf("%s: bin/detect -> %q, %v", name, l, err)
		}
		head := make([]byte, 4)
		f, _ := os.Open(build)
		f.Read(head)
		f.Close()
		if !bytes.Equal(head, []byte("\x7fELF")) {
			t.Errorf("%s: bin/build is not an ELF binary", name)
		}
	}
	for _, extra := range []string{"static/bin/static-server", "nodejs/bin/kiln-exec", "procfile/bin/kiln-exec"} {
		if fi, err := os.Stat(filepath.Join(dir, extra)); err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("%s missing or not executable: %v", extra, err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(Names) {
		t.Errorf("%d entries in %s, want %d (no leftovers)", len(entries), dir, len(Names))
	}

	// a second build gives the same bytes
	again := t.TempDir()
	if err := Package(context.Background(), again); err != nil {
		t.Fatal(err)
	}
	for _, n := range Names {
		a, _ := os.ReadFile(filepath.Join(dir, n, "bin", "build"))
		b, _ := os.ReadFile(filepath.Join(again, n, "bin", "build"))
		if !bytes.Equal(a, b) {
			t.Errorf("%s: bin/build differs between two builds", n)
		}
	}
}

func TestPackageWrongSource(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/other\n"), 0o644)
	if err := Package(context.Background(), t.TempDir(), WithSourceDir(dir)); err == nil {
		t.Error("Package from another module succeeded")
	}
}

func TestDefaultOrder(t *testing.T) {
	known := map[string]bool{}
	for _, n := range Names {
		known[ID(n)] = true
	}
	order := DefaultOrder()
	for _, g := range order {
		required := 0
		for _, e := range g {
			if !known[e.ID] || e.Version != Version {
				t.Errorf("order names unknown buildpack %+v", e)
			}
			if !e.Optional {
				required++
			}
		}
		if required == 0 {
			t.Errorf("group %+v has no required buildpack", g)
		}
	}
	var first []string
	for _, g := range order {
		first = append(first, g[0].ID)
	}
	want := []string{"kiln/go", "kiln/nodejs", "kiln/python", "kiln/static", "kiln/procfile"}
	if diff := cmp.Diff(want, first); diff != "" {
		t.Errorf("group leaders (-want +got):\n%s", diff)
	}
}
