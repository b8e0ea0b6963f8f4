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
		web, err := chooseWeb(names, binaryName(".", modulePath))
		if err != nil {
			return nil, err
		}
		for _, n := range append([]string{web}, names...) {
			if n != "" && !contains(pkgs, "cmd/"+n) {
				pkgs = append(pkgs, "cmd/"+n)
			}
		}
	}
	if len(pkgs) == 0 {
		cands := findMains(ctx, appDir, 4, 30)
		if len(cands) == 0 {
			return nil, fmt.Errorf("no main package to build: none at the module root, in cmd/<name> or below")
		}
		return nil, fmt.Errorf("no main package at the module root or in cmd/<name>; the main packages in the app are %s; choose with BP_GO_TARGETS=./%s (several, colon-separated: the first is the web process)",
			strings.Join(cands, ", "), cands[0])
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

// chooseWeb picks the web process among the main packages cmd/<names>:
// the only one, else the one named like the module (podinfo's
// cmd/podinfo beside cmd/podcli), else one called web or server; with
// none of these it is an error listing them.
func chooseWeb(names []string, moduleName string) (string, error) {
	switch len(names) {
	case 0:
		return "", nil
	case 1:
		return names[0], nil
	}
	for _, want := range []string{moduleName, "web", "server"} {
		for _, n := range names {
			if n == want {
				return n, nil
			}
		}
	}
	var list []string
	for _, n := range names {
		list = append(list, "./cmd/"+n)
	}
	return "", fmt.Errorf("several main packages (%s) and none is named like the module (%s), web or server, so the web process is not clear; choose with BP_GO_TARGETS=%s (the first is the web process, the others get processes of their names)",
		strings.Join(list, ", "), moduleName, strings.Join(list, ":"))
}

// findMains lists the main packages below appDir ("dir/sub"), up to depth
// levels down and at most limit of them, leaving out vendor, testdata and
// hidden directories.
func findMains(ctx gobuild.Context, appDir string, depth, limit int) []string {
	var out []string
	var walk func(rel string, d int)
	walk = func(rel string, d int) {
		if len(out) >= limit || d > depth {
			return
		}
		entries, err := os.ReadDir(filepath.Join(appDir, rel))
		if err != nil {
			return
		}
		for _, e := range entries {
			n := e.Name()
			if !e.IsDir() || n == "vendor" || n == "testdata" || n == "node_modules" || strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_") {
				continue
			}
			sub := path.Join(rel, n)
			if isMain(ctx, filepath.Join(appDir, filepath.FromSlash(sub))) && len(out) < limit {
				out = append(out, sub)
			}
			walk(sub, d+1)
		}
	}
	walk("", 1)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
