package main

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/kiln-build/kiln/buildpacks/sdk"
)

// pruneSources removes what only the compiler needed from the app dir, so
// the image does not ship it: Go sources, go.mod and go.sum, vendor/ and
// testdata/. Other files (templates, static assets, config) stay, since a
// server may read them at run time. BP_KEEP_FILES lists globs
// (colon-separated, relative to the app dir, matching a file or a
// directory) to keep anyway.
func pruneSources(bc *sdk.BuildContext) error {
	var keep []string
	for _, g := range strings.Split(bc.Getenv("BP_KEEP_FILES"), ":") {
		if g = strings.TrimSpace(g); g != "" {
			if _, err := path.Match(g, ""); err != nil {
				return sdk.Fix(fmt.Errorf("BP_KEEP_FILES: bad pattern %q: %w", g, err), "use glob patterns such as static/*:*.go")
			}
			keep = append(keep, strings.TrimPrefix(path.Clean(g), "./"))
		}
	}
	kept := func(rel string) bool {
		for _, g := range keep {
			if ok, _ := path.Match(g, rel); ok {
				return true
			}
			if ok, _ := path.Match(g, path.Base(rel)); ok && !strings.Contains(g, "/") {
				return true
			}
		}
		return false
	}
	removed := 0
	err := filepath.WalkDir(bc.AppDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(bc.AppDir, p)
		rel = filepath.ToSlash(rel)
		if rel == "." || kept(rel) {
			if rel != "." && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		name := d.Name()
		switch {
		case d.IsDir() && (name == "vendor" || name == "testdata"):
			removed++
			if err := os.RemoveAll(p); err != nil {
				return err
			}
			return fs.SkipDir
		case d.IsDir() && strings.HasPrefix(name, ".") && name != ".":
			return fs.SkipDir // .git and friends are the platform's business
		case !d.IsDir() && (strings.HasSuffix(name, ".go") || name == "go.mod" || name == "go.sum" || name == "go.work" || name == "go.work.sum"):
			removed++
			return os.Remove(p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("removing the Go sources from the app dir: %w", err)
	}
	if removed > 0 {
		bc.Log.Detail("left the Go sources, vendor/ and testdata/ out of the image (BP_KEEP_FILES keeps files)")
	}
	return nil
}
