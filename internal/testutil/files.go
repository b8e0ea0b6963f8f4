package testutil

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// WriteFile writes content to p with exactly mode (not narrowed by the
// umask), creating p's parent directories.
func WriteFile(t testing.TB, p, content string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// WriteFiles writes files (slash-separated paths relative to root, to
// their contents) under root with mode 0644.
func WriteFiles(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		WriteFile(t, filepath.Join(root, filepath.FromSlash(rel)), content, 0o644)
	}
}
