package create

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/kiln-build/kiln/lifecycle/failure"
)

// The host reads nothing of what a build wrote through a link, and does not
// hang on a FIFO.
func TestBuildOutputRefusesHostileShapes(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(secret, []byte("root:SECRET-HASH"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		plant     func(layers string) error
		checkErr  string // what check must say; "" = passes
		errorText string // what errorText(BuildErrorRel) must hold
	}{
		{"clean", func(l string) error {
			return os.WriteFile(filepath.Join(l, BuildErrorRel), []byte("real failure\n"), 0o644)
		}, "", "real failure"},
		{"error file is a symlink", func(l string) error { return os.Symlink(secret, filepath.Join(l, BuildErrorRel)) }, "/layers/.kiln/build-error.txt", "not shown"},
		{"error file is a FIFO", func(l string) error { return syscall.Mkfifo(filepath.Join(l, BuildErrorRel), 0o644) }, "a FIFO", "not shown"},
		{".kiln is a symlink", func(l string) error {
			os.RemoveAll(filepath.Join(l, ".kiln"))
			return os.Symlink(filepath.Dir(secret), filepath.Join(l, ".kiln"))
		}, "/layers/.kiln", "not shown"},
		{"buildpack dir is a symlink", func(l string) error { return os.Symlink("/var/tmp", filepath.Join(l, "evil_bp")) }, "/layers/evil_bp", ""},
		{"layer dir is a symlink", func(l string) error {
			os.MkdirAll(filepath.Join(l, "bp"), 0o755)
			return os.Symlink("/root/.docker", filepath.Join(l, "bp", "cfg"))
		}, "/layers/bp/cfg", ""},
		{"group.toml is a symlink", func(l string) error { return os.Symlink(secret, filepath.Join(l, "group.toml")) }, "/layers/group.toml", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			w := workDirs(root)
			if err := os.MkdirAll(filepath.Join(w.layers, ".kiln"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := tc.plant(w.layers); err != nil {
				t.Fatal(err)
			}
			out := newBuildOutput(w)
			err := out.check("build", failure.BuildError)
			if tc.checkErr == "" && err != nil {
				t.Fatalf("check: %v", err)
			}
			if tc.checkErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.checkErr) {
					t.Fatalf("check = %v, want an error naming %q", err, tc.checkErr)
				}
				if failure.Code(err) != failure.BuildError {
					t.Errorf("exit code %d, want %d", failure.Code(err), failure.BuildError)
				}
			}
			msg := out.errorText(BuildErrorRel)
			if strings.Contains(msg, "SECRET") {
				t.Fatalf("errorText leaked the host file: %q", msg)
			}
			if !strings.Contains(msg, tc.errorText) {
				t.Errorf("errorText = %q, want %q", msg, tc.errorText)
			}
			if _, err := out.group(); err == nil {
				t.Errorf("group() read something")
			}
		})
	}
}

func TestErrorTextIsCapped(t *testing.T) {
	w := workDirs(t.TempDir())
	os.MkdirAll(filepath.Join(w.layers, ".kiln"), 0o755)
	os.WriteFile(filepath.Join(w.layers, BuildErrorRel), []byte(strings.Repeat("x", 10<<20)), 0o644)
	msg := newBuildOutput(w).errorText(BuildErrorRel)
	if len(msg) > maxErrorText+100 || !strings.Contains(msg, "cut at") {
		t.Errorf("errorText is %d bytes, want at most about %d and a note", len(msg), maxErrorText)
	}
}
