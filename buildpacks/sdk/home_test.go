package sdk

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWritableHome(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	// a HOME below a regular file cannot be made, even by root
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	readOnly := filepath.Join(notDir, "home")
	env := map[string]string{"HOME": readOnly}
	got := WritableHome(func(k string) string { return env[k] }, func(k, v string) error { env[k] = v; return nil })
	if !strings.HasPrefix(env["HOME"], os.TempDir()) || got["HOME"] == "" {
		t.Fatalf("HOME = %q, want one under %s", env["HOME"], os.TempDir())
	}
	for k := range xdgDirs {
		if !writableDir(env[k]) || !strings.HasPrefix(env[k], env["HOME"]) {
			t.Errorf("%s = %q, want a writable dir under HOME", k, env[k])
		}
	}

	// a writable HOME stays
	home := t.TempDir()
	env = map[string]string{"HOME": home}
	WritableHome(func(k string) string { return env[k] }, func(k, v string) error { env[k] = v; return nil })
	if env["HOME"] != home || env["XDG_CONFIG_HOME"] != filepath.Join(home, ".config") {
		t.Errorf("env = %v, want HOME kept", env)
	}
}
