package serve

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
