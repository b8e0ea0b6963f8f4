package main

import (
	"fmt"
	gobuild "go/build"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/mod/module"
)

// target is a main package to build and the name of its binary.
type target struct {
	Pkg  string // "." or "./cmd/web"
	Name string
}

// findTargets returns the main packages to build: those BP_GO_TARGETS
// lists (colon-separated), else the root package if it is a main
// package, else every cmd/<name> that is.
func findTargets(appDir, modulePath, bpTargets, goarch string) ([]target, error) {
	ctx := gobuild.Default
	ctx.GOOS, ctx.CgoEnabled = "linux", false
	if goarch != "" {
		ctx.GOARCH = goarch
	}
	var pkgs []string
	if strings.TrimSpace(bpTargets) != "" {
		for _, t := range strings.Split(bpTargets, ":") {
			t = strings.TrimSpace(t)
			if t == "" {
				continue
			}
			clean := path.Clean(filepath.ToSlash(t))
			if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
				return nil, fmt.Errorf("BP_GO_TARGETS entry %q must be a directory inside the app, such as ./cmd/web", t)
			}
			if !isMain(ctx, filepath.Join(appDir, filepath.FromSlash(clean))) {
				return nil, fmt.Errorf("BP_GO_TARGETS entry %q is not a directory with a main package", t)
			}
			pkgs = append(pkgs, clean)
		}
	} else if isMain(ctx, appDir) {
		pkgs = []string{"."}
	} else {
		entries, _ := os.ReadDir(filepath.Join(appDir, "cmd"))
		var names []string
		for _, e := range entries {
			if e.IsDir() && isMain(ctx, filepath.Join(appDir, "cmd", e.Name())) {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		for _, n := range names {
			pkgs = append(pkgs, "cmd/"+n)
		}
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("no main package to build")
	}
	var out []target
	seen := map[string]string{}
	for _, p := range pkgs {
		name := binaryName(p, modulePath)
		if prev, dup := seen[name]; dup {
			return nil, fmt.Errorf("main packages %s and %s would both build a binary called %q", prev, p, name)
		}
		seen[name] = p
		pkg := p
		if pkg != "." {
			pkg = "./" + pkg
		}
		out = append(out, target{Pkg: pkg, Name: name})
	}
	return out, nil
}

// isMain reports whether dir holds a Go package named main for ctx.
func isMain(ctx gobuild.Context, dir string) bool {
	p, err := ctx.ImportDir(dir, 0)
	return err == nil && p.Name == "main"
}

// binaryName is the name go build gives the binary of pkg: the last path
// element, or for the module root the module path's last element without
// a /vN major version suffix.
func binaryName(pkg, modulePath string) string {
	if pkg != "." {
		return path.Base(pkg)
	}
	prefix, _, ok := module.SplitPathVersion(modulePath)
	if !ok || prefix == "" {
		prefix = modulePath
	}
	return path.Base(prefix)
}
