package buildsbom

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/internal/beneath"
	"github.com/kiln-build/kiln/internal/cnbtoml"
	"github.com/kiln-build/kiln/lifecycle/sbom"
)

func writeFile(t *testing.T, p, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func root(layers string) *beneath.Root {
	return beneath.New(layers, func(rel string) string { return "/layers/" + rel })
}

// TestWriteThenRead: what the container writes, the host reads back at
// the paths pack's --sbom-output-dir uses.
func TestWriteThenRead(t *testing.T) {
	layers := t.TempDir()
	bp := filepath.Join(layers, "kiln_node")
	writeFile(t, filepath.Join(bp, "build.sbom.cdx.json"), `{"bp":"build"}`)
	writeFile(t, filepath.Join(bp, "tools.sbom.spdx.json"), `{"layer":"tools"}`)
	// a stale tree (a buildpack's, or an old build's) is replaced whole
	writeFile(t, filepath.Join(layers, "sbom", "build", "kiln_old", "sbom.cdx.json"), `{}`)
	srcs := []Source{
		{BuildpackID: "kiln/node", Ext: "cdx.json", Path: filepath.Join(bp, "build.sbom.cdx.json")},
		{BuildpackID: "kiln/node", Layer: "tools", Ext: "spdx.json", Path: filepath.Join(bp, "tools.sbom.spdx.json")},
	}
	legacy := []LegacyEntry{{
		BOMEntry:  cnbtoml.BOMEntry{Name: "gcc", Metadata: map[string]any{"version": "12"}},
		Buildpack: Buildpack{ID: "kiln/node", Version: "1.0.0"},
	}}
	if err := Write(layers, srcs, legacy); err != nil {
		t.Fatal(err)
	}
	got, err := Read(root(layers), []string{"kiln/node"})
	if err != nil {
		t.Fatal(err)
	}
	want := []sbom.File{
		{Path: "build/kiln_node/sbom.cdx.json", Data: []byte(`{"bp":"build"}`)},
		{Path: "build/kiln_node/tools/sbom.spdx.json", Data: []byte(`{"layer":"tools"}`)},
		{Path: "build/sbom.legacy.json", Data: []byte(`[{"name":"gcc","metadata":{"version":"12"},"buildpack":{"id":"kiln/node","version":"1.0.0"}}]` + "\n")},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Read (-want +got):\n%s", diff)
	}
	var entries []map[string]any
	if err := json.Unmarshal(got[2].Data, &entries); err != nil || len(entries) != 1 {
		t.Errorf("sbom.legacy.json: %v, %v", entries, err)
	}

	// nothing to keep: the tree goes, and Read finds none
	if err := Write(layers, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(layers, "sbom", "build")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Write(nothing) left %s/sbom/build: %v", layers, err)
	}
	if got, err := Read(root(layers), []string{"kiln/node"}); err != nil || got != nil {
		t.Errorf("Read(no tree) = %v, %v", got, err)
	}
}

func TestWriteRefuses(t *testing.T) {
	layers := t.TempDir()
	secret := filepath.Join(t.TempDir(), "secret")
	writeFile(t, secret, "secret")
	bp := filepath.Join(layers, "bp")
	writeFile(t, filepath.Join(bp, "ok.sbom.cdx.json"), "{}")
	if err := os.Symlink(secret, filepath.Join(bp, "link.sbom.cdx.json")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(bp, "fifo.sbom.cdx.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(bp, "big.sbom.cdx.json")
	writeFile(t, big, "")
	if err := os.Truncate(big, sbom.MaxDocument+1); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		src  Source
		want string
	}{
		{"link", Source{BuildpackID: "bp", Layer: "link", Ext: "cdx.json", Path: filepath.Join(bp, "link.sbom.cdx.json")}, "link.sbom.cdx.json"},
		{"fifo", Source{BuildpackID: "bp", Layer: "fifo", Ext: "cdx.json", Path: filepath.Join(bp, "fifo.sbom.cdx.json")}, "not a regular file"},
		{"too big", Source{BuildpackID: "bp", Layer: "big", Ext: "cdx.json", Path: big}, "more than the 64 MiB"},
		{"dot-dot layer", Source{BuildpackID: "bp", Layer: "..", Ext: "cdx.json", Path: filepath.Join(bp, "ok.sbom.cdx.json")}, `layer ".."`},
		{"unknown extension", Source{BuildpackID: "bp", Ext: "xml", Path: filepath.Join(bp, "ok.sbom.cdx.json")}, `extension "xml"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Write(layers, []Source{tc.src}, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Write = %v, want an error saying %q", err, tc.want)
			}
			if b, err := os.ReadFile(filepath.Join(layers, "sbom", "build", "bp", "sbom.cdx.json")); err == nil && string(b) == "secret" {
				t.Error("a link's target was copied")
			}
		})
	}
}

// TestReadHostile: what a build container left is read without following
// a link, only at the expected paths, within bounds.
func TestReadHostile(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	writeFile(t, secret, `{"host":"secret"}`)
	defer func(n int) { maxEntries = n }(maxEntries)
	maxEntries = 20
	build := func(layers string) string { return filepath.Join(layers, "sbom", "build") }
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, layers string)
		want  string
	}{
		{"tree is a link", func(t *testing.T, l string) {
			os.MkdirAll(filepath.Join(l, "sbom"), 0o755)
			os.Symlink(filepath.Dir(secret), build(l))
		}, "symbolic link"},
		{"sbom dir is a link", func(t *testing.T, l string) {
			os.Symlink(filepath.Dir(secret), filepath.Join(l, "sbom"))
		}, "symbolic link"},
		{"file is a link", func(t *testing.T, l string) {
			os.MkdirAll(filepath.Join(build(l), "kiln_node"), 0o755)
			os.Symlink(secret, filepath.Join(build(l), "kiln_node", "sbom.cdx.json"))
		}, "/layers/sbom/build/kiln_node/sbom.cdx.json is not a build SBOM file kiln expects (a symbolic link)"},
		{"buildpack dir is a link", func(t *testing.T, l string) {
			os.MkdirAll(build(l), 0o755)
			os.Symlink(filepath.Dir(secret), filepath.Join(build(l), "kiln_node"))
		}, "symbolic link"},
		{"layer dir is a link", func(t *testing.T, l string) {
			os.MkdirAll(filepath.Join(build(l), "kiln_node"), 0o755)
			os.Symlink(filepath.Dir(secret), filepath.Join(build(l), "kiln_node", "tools"))
		}, "symbolic link"},
		{"FIFO", func(t *testing.T, l string) {
			os.MkdirAll(filepath.Join(build(l), "kiln_node"), 0o755)
			syscall.Mkfifo(filepath.Join(build(l), "kiln_node", "sbom.cdx.json"), 0o644)
		}, "a FIFO"},
		{"buildpack not in the group", func(t *testing.T, l string) {
			writeFile(t, filepath.Join(build(l), "kiln_other", "sbom.cdx.json"), "{}")
		}, "/layers/sbom/build/kiln_other is not a build SBOM file kiln expects"},
		{"unknown extension", func(t *testing.T, l string) {
			writeFile(t, filepath.Join(build(l), "kiln_node", "sbom.xml"), "{}")
		}, "kiln_node/sbom.xml is not"},
		{"other file name", func(t *testing.T, l string) {
			writeFile(t, filepath.Join(build(l), "kiln_node", "notes.txt"), "hi")
		}, "kiln_node/notes.txt is not"},
		{"too deep", func(t *testing.T, l string) {
			writeFile(t, filepath.Join(build(l), "kiln_node", "tools", "more", "sbom.cdx.json"), "{}")
		}, "kiln_node/tools/more is not"},
		{"file at the top", func(t *testing.T, l string) {
			writeFile(t, filepath.Join(build(l), "sbom.cdx.json"), "{}")
		}, "/layers/sbom/build/sbom.cdx.json is not"},
		{"legacy BOM not JSON", func(t *testing.T, l string) {
			writeFile(t, filepath.Join(build(l), LegacyFile), "[{")
		}, "sbom.legacy.json is not JSON"},
		{"too large", func(t *testing.T, l string) {
			p := filepath.Join(build(l), "kiln_node", "sbom.cdx.json")
			writeFile(t, p, "")
			os.Truncate(p, sbom.MaxDocument+1)
		}, "larger than kiln accepts"},
		{"too many entries in one dir", func(t *testing.T, l string) {
			d := filepath.Join(build(l), "kiln_node")
			for i := 0; i <= 20; i++ {
				os.MkdirAll(filepath.Join(d, "l"+strconv.Itoa(i)), 0o755)
			}
		}, "/layers/sbom/build/kiln_node holds more than 20 entries"},
		{"too many entries in all", func(t *testing.T, l string) {
			for i := 0; i < 6; i++ { // no dir over 20, 25 entries in all
				for _, ext := range []string{"cdx.json", "spdx.json", "syft.json"} {
					writeFile(t, filepath.Join(build(l), "kiln_node", "l"+strconv.Itoa(i), "sbom."+ext), "{}")
				}
			}
		}, "/layers/sbom/build holds more than 20 entries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			layers := t.TempDir()
			tc.setup(t, layers)
			files, err := Read(root(layers), []string{"kiln/node"})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Read = %d files, %v; want an error saying %q", len(files), err, tc.want)
			}
			if strings.Contains(err.Error(), `"host"`) {
				t.Errorf("the error shows the host file: %v", err)
			}
		})
	}
}
