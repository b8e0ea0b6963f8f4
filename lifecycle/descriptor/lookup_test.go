package descriptor

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEscapeID(t *testing.T) {
	for in, want := range map[string]string{"a": "a", "kiln/go": "kiln_go", "a/b/c": "a_b_c"} {
		if got := EscapeID(in); got != want {
			t.Errorf("EscapeID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLookupFind(t *testing.T) {
	root := t.TempDir()
	desc := func(id, version string) string {
		return "api = \"0.12\"\n[buildpack]\nid = \"" + id + "\"\nversion = \"" + version + "\"\n"
	}
	writeBuildpackDir(t, filepath.Join(root, "kiln_go", "1.0.0"), desc("kiln/go", "1.0.0"), "bin/detect", "bin/build")
	writeBuildpackDir(t, filepath.Join(root, "kiln_go", "2.0.0"), desc("kiln/go", "2.0.0"), "bin/detect", "bin/build")
	writeBuildpackDir(t, filepath.Join(root, "solo", "0.3.0"), desc("solo", "0.3.0"), "bin/detect", "bin/build")
	writeBuildpackDir(t, filepath.Join(root, "liar", "1.0.0"), desc("liar", "9.9.9"), "bin/detect", "bin/build")

	tests := []struct {
		id, version string
		wantRef     string
		wantDir     string
		wantErr     string
		notFound    bool
	}{
		{id: "kiln/go", version: "2.0.0", wantRef: "kiln/go@2.0.0", wantDir: filepath.Join(root, "kiln_go", "2.0.0")},
		{id: "kiln/go", version: "", wantRef: "kiln/go@1.0.0", wantDir: filepath.Join(root, "kiln_go", "1.0.0")},
		{id: "solo", version: "", wantRef: "solo@0.3.0", wantDir: filepath.Join(root, "solo", "0.3.0")},
		{id: "kiln/go", version: "3.0.0", wantErr: "kiln/go@3.0.0", notFound: true},
		{id: "nope", version: "", wantErr: "nope", notFound: true},
		{id: "liar", version: "1.0.0", wantErr: "declares liar@9.9.9"},
		{id: "kiln/go", version: "../solo", wantErr: "invalid version"},
		{id: "..", version: "1", wantErr: "invalid id"},
	}
	l := NewLookup(root)
	for _, tc := range tests {
		bp, err := l.Find(tc.id, tc.version)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Find(%q, %q) error = %v, want %q", tc.id, tc.version, err, tc.wantErr)
			}
			if got := errors.Is(err, ErrNotFound); got != tc.notFound {
				t.Errorf("Find(%q, %q): errors.Is(ErrNotFound) = %v, want %v", tc.id, tc.version, got, tc.notFound)
			}
			continue
		}
		if err != nil {
			t.Errorf("Find(%q, %q): %v", tc.id, tc.version, err)
			continue
		}
		if bp.Ref() != tc.wantRef || bp.Dir != tc.wantDir {
			t.Errorf("Find(%q, %q) = %s in %s, want %s in %s", tc.id, tc.version, bp.Ref(), bp.Dir, tc.wantRef, tc.wantDir)
		}
		again, _ := l.Find(tc.id, tc.version)
		if again != bp {
			t.Errorf("Find(%q, %q) second call did not come from the cache", tc.id, tc.version)
		}
	}
}

func TestLookupSeveralRoots(t *testing.T) {
	first, second := t.TempDir(), t.TempDir()
	desc := func(id, version, name string) string {
		return "api = \"0.12\"\n[buildpack]\nid = \"" + id + "\"\nversion = \"" + version + "\"\nname = \"" + name + "\"\n"
	}
	writeBuildpackDir(t, filepath.Join(first, "a", "1"), desc("a", "1", "first"), "bin/detect", "bin/build")
	writeBuildpackDir(t, filepath.Join(second, "a", "1"), desc("a", "1", "second"), "bin/detect", "bin/build")
	writeBuildpackDir(t, filepath.Join(second, "b", "2"), desc("b", "2", "second"), "bin/detect", "bin/build")
	l := NewLookup(first + string(filepath.ListSeparator) + second)
	if diff := cmp.Diff([]string{first, second}, l.Roots()); diff != "" {
		t.Errorf("Roots mismatch (-want +got):\n%s", diff)
	}
	for _, tc := range []struct{ id, version, wantName string }{
		{"a", "1", "first"},
		{"a", "", "first"},
		{"b", "", "second"},
		{"b", "2", "second"},
	} {
		bp, err := l.Find(tc.id, tc.version)
		if err != nil {
			t.Errorf("Find(%q, %q): %v", tc.id, tc.version, err)
			continue
		}
		if bp.Buildpack.Name != tc.wantName {
			t.Errorf("Find(%q, %q) came from %q, want %q", tc.id, tc.version, bp.Buildpack.Name, tc.wantName)
		}
	}
}
