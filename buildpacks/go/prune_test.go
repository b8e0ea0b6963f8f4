package main

import (
	"io"
	"io/fs"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/buildpacks/sdk"
)

func TestPruneSources(t *testing.T) {
	for _, tc := range []struct {
		keep string
		want []string
	}{
		{"", []string{"Procfile", "static/app.css", "templates/index.html"}},
		{"*.go:vendor", []string{"Procfile", "cmd/web/main.go", "main.go", "static/app.css", "templates/index.html", "vendor/x/x.go"}},
	} {
		dir := writeFiles(t, map[string]string{
			"main.go": "package main", "go.mod": "module m", "go.sum": "", "cmd/web/main.go": "package main",
			"vendor/x/x.go": "package x", "testdata/a.txt": "", "templates/index.html": "", "static/app.css": "", "Procfile": "web: x",
		})
		bc := &sdk.BuildContext{AppDir: dir, Getenv: func(k string) string {
			if k == "BP_KEEP_FILES" {
				return tc.keep
			}
			return ""
		}, Log: sdk.NewLogger(io.Discard)}
		if err := pruneSources(bc); err != nil {
			t.Fatal(err)
		}
		var got []string
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, _ error) error {
			if !d.IsDir() {
				rel, _ := filepath.Rel(dir, p)
				got = append(got, filepath.ToSlash(rel))
			}
			return nil
		})
		sort.Strings(got)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("BP_KEEP_FILES=%q (-want +got):\n%s", tc.keep, diff)
		}
	}
}
