package serve

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/service"
	"github.com/kiln-build/kiln/internal/service/store"
)

func TestAdminToken(t *testing.T) {
	file := filepath.Join(t.TempDir(), "dir", "admin-token")
	var out bytes.Buffer
	tok, err := AdminToken(file, &out)
	if err != nil || !strings.HasPrefix(tok, "ka_") {
		t.Fatalf("AdminToken = %q %v", tok, err)
	}
	if !strings.Contains(out.String(), tok) {
		t.Errorf("the new token was not printed: %q", out.String())
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file: %v %v", fi.Mode(), err)
	}
	out.Reset()
	again, err := AdminToken(file, &out)
	if err != nil || again != tok || out.Len() != 0 {
		t.Errorf("second start: %q %v, printed %q", again, err, out.String())
	}
	os.WriteFile(file, []byte("  \n"), 0o600)
	if _, err := AdminToken(file, &out); err == nil {
		t.Error("an empty token file was taken")
	}
}

// TestSharedAdminToken: the first process on a database stores its
// admin token's hash there; a process whose file holds another token, or
// that has no file, refuses to start, and one with the same token starts.
func TestSharedAdminToken(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(ctx, filepath.Join(dir, "kiln.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	first := filepath.Join(dir, "a", "admin-token")
	var out bytes.Buffer
	tok, err := SharedAdminToken(ctx, db, first, &out)
	if err != nil || !strings.Contains(out.String(), tok) {
		t.Fatalf("first start: %q %v (printed %q)", tok, err, out.String())
	}
	if h, _ := db.Setting(ctx, adminTokenSetting); h != service.HashToken(tok) {
		t.Errorf("stored hash %q, want that of the token", h)
	}
	// A second machine with a copy of the file.
	copyFile := filepath.Join(dir, "b", "admin-token")
	os.MkdirAll(filepath.Dir(copyFile), 0o700)
	os.WriteFile(copyFile, []byte(tok+"\n"), 0o600)
	if got, err := SharedAdminToken(ctx, db, copyFile, &out); err != nil || got != tok {
		t.Errorf("same token: %q %v", got, err)
	}
	// One with its own token: refused.
	other := filepath.Join(dir, "c", "admin-token")
	os.MkdirAll(filepath.Dir(other), 0o700)
	os.WriteFile(other, []byte("ka_other\n"), 0o600)
	if _, err := SharedAdminToken(ctx, db, other, &out); err == nil || !strings.Contains(err.Error(), "not this database's admin token") {
		t.Errorf("another token: %v", err)
	}
	// One without a file: refused, and no token made or printed.
	out.Reset()
	missing := filepath.Join(dir, "d", "admin-token")
	if _, err := SharedAdminToken(ctx, db, missing, &out); err == nil || !strings.Contains(err.Error(), "already has an admin token") {
		t.Errorf("no file: %v", err)
	}
	if _, err := os.Stat(missing); err == nil || out.Len() != 0 {
		t.Errorf("a token was made for a database that has one (printed %q)", out.String())
	}
}
