package archive

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestFingerprint(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a"), 0o755)
	os.WriteFile(filepath.Join(dir, "a", "f"), []byte("one"), 0o644)
	os.WriteFile(filepath.Join(dir, "g"), []byte("two"), 0o644)
	fp := func(paths []string, salt string) string {
		t.Helper()
		s, err := Fingerprint(dir, paths, salt)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	base := fp(nil, "x")
	if fp(nil, "x") != base {
		t.Error("fingerprint not stable")
	}
	if fp(nil, "y") == base {
		t.Error("salt ignored")
	}
	if sub := fp([]string{"a"}, "x"); sub == base || fp([]string{"a"}, "x") != sub {
		t.Error("path subsets not told apart")
	}
	for name, change := range map[string]func(){
		"size":  func() { os.WriteFile(filepath.Join(dir, "g"), []byte("three"), 0o644) },
		"mtime": func() { os.Chtimes(filepath.Join(dir, "g"), time.Unix(1, 0), time.Unix(1, 0)) },
		"mode":  func() { os.Chmod(filepath.Join(dir, "g"), 0o600) },
		"new":   func() { os.WriteFile(filepath.Join(dir, "a", "h"), nil, 0o644) },
		"link":  func() { os.Symlink("g", filepath.Join(dir, "l")) },
	} {
		before := fp(nil, "x")
		change()
		if fp(nil, "x") == before {
			t.Errorf("a %s change kept the fingerprint", name)
		}
	}
	if _, err := Fingerprint(filepath.Join(dir, "missing"), nil, ""); err == nil {
		t.Error("missing dir gave a fingerprint")
	}
}
