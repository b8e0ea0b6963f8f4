package create

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/lifecycle/sandbox"
)

func TestSplitFromBuilder(t *testing.T) {
	tests := []struct {
		in            []string
		before, after []string
		found         bool
		err           bool
	}{
		{in: []string{"a", "b"}, before: []string{"a", "b"}},
		{in: []string{"a", FromBuilder, "b"}, before: []string{"a"}, after: []string{"b"}, found: true},
		{in: []string{FromBuilder}, before: []string{}, after: []string{}, found: true},
		{in: []string{FromBuilder, "x", FromBuilder}, err: true},
	}
	for _, tt := range tests {
		before, after, found, err := splitFromBuilder(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("splitFromBuilder(%q) err = %v", tt.in, err)
			continue
		}
		if tt.err {
			continue
		}
		if found != tt.found || !cmp.Equal(before, tt.before, cmpEmpty) || !cmp.Equal(after, tt.after, cmpEmpty) {
			t.Errorf("splitFromBuilder(%q) = %q, %q, %v", tt.in, before, after, found)
		}
	}
}

var cmpEmpty = cmp.Comparer(func(a, b []string) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return cmp.Equal([]string(a), []string(b))
})

func TestIsPackageRef(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bp")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]bool{
		"docker://example.com/bp:1": true, "oci:/tmp/x": true, "docker-archive:/tmp/x.tar": true,
		"file:///tmp/bp": true, "bp.cnb": true, "bp.tgz": true, file: true,
		"kiln/go": false, "kiln/go@1.0.0": false, dir: false,
	} {
		if got := isPackageRef(ref); got != want {
			t.Errorf("isPackageRef(%q) = %v, want %v", ref, got, want)
		}
	}
}

func TestCheckVolume(t *testing.T) {
	src := t.TempDir()
	tests := []struct {
		dst, wantErr string
	}{
		{"/platform/bindings/npm", ""},
		{"/opt/cache", ""},
		{"/var/run/secrets/x", ""},
		{"/", "absolute, clean path"},
		{"relative", "absolute, clean path"},
		{"/opt/../workspace", "absolute, clean path"},
		{"/workspace", "would cover /workspace"},
		{"/workspace/node_modules", "inside /workspace"},
		{"/layers/x", "inside /layers"},
		{"/cnb/buildpacks", "inside /cnb"},
		{"/kiln", "would cover /kiln"},
		{"/platform", "would cover /platform"},
		{"/platform/env", "would cover /platform/env"},
		{"/platform/env/X", "inside /platform/env"},
		{"/proc/self", "inside /proc"},
		{"/tmp", "would cover /tmp"},
	}
	for _, tt := range tests {
		err := CheckVolume(sandbox.Mount{Source: src, Destination: tt.dst, ReadOnly: true})
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("CheckVolume(%s) = %v, want %q", tt.dst, err, tt.wantErr)
		}
	}
	if err := CheckVolume(sandbox.Mount{Source: "/nonexistent/dir", Destination: "/opt/x"}); err == nil {
		t.Error("a missing source was accepted")
	}
}
