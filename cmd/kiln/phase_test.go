package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// dropUnchosen removes the restored dirs of buildpacks detect did not
// choose, keeps the chosen ones and anything not restored, and refuses a
// name that is not one dir below the layers dir.
func TestDropUnchosen(t *testing.T) {
	layers := t.TempDir()
	outside := t.TempDir()
	for _, d := range []string{"acme_go", "acme_node", "other", "config"} {
		if err := os.MkdirAll(filepath.Join(layers, d, "layer"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	group := []descriptor.GroupEntry{{ID: "acme/go", Version: "1"}}
	if err := dropUnchosen(layers, []string{"acme_go", "acme_node", "gone"}, group); err != nil {
		t.Fatal(err)
	}
	for d, want := range map[string]bool{"acme_go": true, "acme_node": false, "other": true, "config": true} {
		if _, err := os.Stat(filepath.Join(layers, d)); (err == nil) != want {
			t.Errorf("%s present = %v, want %v", d, err == nil, want)
		}
	}
	for _, bad := range []string{"..", ".", "", "a/b", "../" + filepath.Base(outside)} {
		err := dropUnchosen(layers, []string{bad}, group)
		if err == nil || !strings.Contains(err.Error(), "not a buildpack dir name") {
			t.Errorf("--restored %q: %v", bad, err)
		}
	}
	if _, err := os.Stat(outside); err != nil {
		t.Errorf("a dir outside the layers dir went: %v", err)
	}
}
