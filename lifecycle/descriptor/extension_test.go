package descriptor

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeExtension(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    *Buildpack
		wantErr string
	}{
		{
			name: "full",
			in: `api = "0.10"
[extension]
id = "samples/curl"
name = "Curl"
version = "0.0.1"
homepage = "https://example.com"
[[targets]]
os = "linux"
arch = "amd64"
[metadata]
x = 1
`,
			want: &Buildpack{API: "0.10", Kind: KindExtension,
				Buildpack: BuildpackInfo{ID: "samples/curl", Name: "Curl", Version: "0.0.1", Homepage: "https://example.com"},
				Targets:   []Target{{OS: "linux", Arch: "amd64"}},
				Metadata:  map[string]any{"x": int64(1)}},
		},
		{name: "api too old", in: "api = \"0.8\"\n[extension]\nid = \"a\"\nversion = \"1\"\n", wantErr: "image extensions need 0.9"},
		{name: "api too new", in: "api = \"0.99\"\n[extension]\nid = \"a\"\nversion = \"1\"\n", wantErr: "unsupported buildpack API"},
		{name: "order", in: "api = \"0.12\"\n[extension]\nid = \"a\"\nversion = \"1\"\n[[order]]\n[[order.group]]\nid = \"b\"\n", wantErr: "no [[order]]"},
		{name: "buildpack table", in: "api = \"0.12\"\n[buildpack]\nid = \"a\"\nversion = \"1\"\n", wantErr: "not [buildpack]"},
		{name: "no id", in: "api = \"0.12\"\n[extension]\nversion = \"1\"\n", wantErr: "id is missing"},
		{name: "reserved id", in: "api = \"0.12\"\n[extension]\nid = \"generated\"\nversion = \"1\"\n", wantErr: "reserved"},
		{name: "bad version", in: "api = \"0.12\"\n[extension]\nid = \"a\"\nversion = \"../x\"\n", wantErr: "version"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeExtension("extension.toml", []byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "extension.toml") {
					t.Fatalf("error = %v, want one naming extension.toml and containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadExtensionInfersTargets(t *testing.T) {
	const desc = "api = \"0.12\"\n[extension]\nid = \"e\"\nversion = \"1\"\n"
	tests := []struct {
		name  string
		files []string
		want  []Target
	}{
		{name: "bin/detect and bin/generate", files: []string{"bin/detect", "bin/generate"}, want: []Target{{OS: "linux"}}},
		{name: "bin/generate only", files: []string{"bin/generate"}, want: []Target{{OS: "linux"}}},
		{name: "static files only", files: []string{"generate/run.Dockerfile"}, want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFileT(t, filepath.Join(dir, ExtensionFile), desc)
			for _, f := range tc.files {
				writeFileT(t, filepath.Join(dir, f), "#!/bin/sh\n")
			}
			e, err := ReadExtension(dir)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, e.Targets); diff != "" {
				t.Errorf("targets (-want +got):\n%s", diff)
			}
			if e.Dir != dir || !e.IsExtension() {
				t.Errorf("Dir = %q, IsExtension = %v", e.Dir, e.IsExtension())
			}
		})
	}
}

func TestReadExtensionRefusesFIFO(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, ExtensionFile), 0o644); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	_, err := ReadExtension(dir)
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("error = %v, want a refusal of the FIFO", err)
	}
}

func TestExtensionLookup(t *testing.T) {
	root := t.TempDir()
	writeFileT(t, filepath.Join(root, "samples_curl", "0.0.1", ExtensionFile), "api = \"0.10\"\n[extension]\nid = \"samples/curl\"\nversion = \"0.0.1\"\n")
	// a buildpack filed among the extensions is not one
	writeBuildpackDir(t, filepath.Join(root, "bp", "1"), "api = \"0.12\"\n[buildpack]\nid = \"bp\"\nversion = \"1\"\n", "bin/detect", "bin/build")
	l := NewExtensionLookup(root)
	e, err := l.Find("samples/curl", "")
	if err != nil {
		t.Fatal(err)
	}
	if e.Ref() != "samples/curl@0.0.1" || !e.IsExtension() {
		t.Errorf("found %s (extension %v)", e.Ref(), e.IsExtension())
	}
	if _, err := l.Find("bp", "1"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "extension bp@1") {
		t.Errorf("Find(bp) error = %v, want not found naming the extension", err)
	}
}

func TestOrdersRoundTrip(t *testing.T) {
	want := Orders{
		Buildpacks: Order{{Group: []GroupEntry{{ID: "a", Version: "1"}}}},
		Extensions: Order{{Group: []GroupEntry{{ID: "e", Version: "2"}, {ID: "f", Version: "3"}}}, {Group: []GroupEntry{{ID: "g", Version: "4"}}}},
	}
	p := filepath.Join(t.TempDir(), OrderFile)
	if err := WriteOrders(p, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadOrders(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
	// without extensions, the table is left out
	if err := WriteOrders(p, Orders{Buildpacks: want.Buildpacks}); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(p); strings.Contains(string(data), "order-extensions") {
		t.Errorf("order.toml without extensions names the table:\n%s", data)
	}
}

func TestDecodeOrdersChecksExtensions(t *testing.T) {
	_, err := DecodeOrders("order.toml", []byte("[[order-extensions]]\n[[order-extensions.group]]\nversion = \"1\"\n"))
	if err == nil || !strings.Contains(err.Error(), "[[order-extensions]] #1, [[order-extensions.group]] #1: id is missing") {
		t.Fatalf("error = %v", err)
	}
}

func TestGroupsRoundTrip(t *testing.T) {
	want := Groups{
		Buildpacks: []GroupEntry{{ID: "a", Version: "1", API: "0.12"}},
		Extensions: []GroupEntry{{ID: "e", Version: "2", API: "0.10", Homepage: "h"}},
	}
	in := want
	in.Extensions = []GroupEntry{{ID: "e", Version: "2", API: "0.10", Homepage: "h", Optional: true}}
	p := filepath.Join(t.TempDir(), GroupFile)
	if err := WriteGroups(p, in); err != nil {
		t.Fatal(err)
	}
	got, err := ReadGroups(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
	if _, err := DecodeGroups("group.toml", []byte("[[group-extensions]]\nid = \"e\"\nversion = \"1\"\n")); err == nil || !strings.Contains(err.Error(), "[[group-extensions]] #1 (e): api is missing") {
		t.Errorf("error = %v, want the missing api named", err)
	}
}

func writeFileT(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
}
