package main

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-build/kiln/buildpacks/internal/execlayer"
	"github.com/kiln-build/kiln/buildpacks/internal/nodepkg"
	"github.com/kiln-build/kiln/buildpacks/internal/shell"
	"github.com/kiln-build/kiln/buildpacks/sdk"
)

// runners are the package managers a start script may run another script
// through; none is in the image.
var runners = map[string]bool{"npm": true, "yarn": true, "pnpm": true}

// startScript is the script the app starts with, following `npm start`,
// `npm run X`, `yarn X` and `pnpm X` to the script they run (the image
// has no package manager).
func startScript(pkg *nodepkg.Package, script string) string {
	for range 4 {
		words, ok := shell.Plain(script)
		if !ok || len(words) < 2 || !runners[words[0]] {
			return script
		}
		name := words[1]
		rest := words[2:]
		if name == "run" || name == "run-script" {
			if len(rest) == 0 {
				return script
			}
			name, rest = rest[0], rest[1:]
		}
		next, ok := pkg.Scripts[name]
		if !ok || len(rest) > 0 {
			return script
		}
		script = next
	}
	return script
}

// startNeedsDev reports whether the start script runs a program that only
// a devDependency provides (tsx, ts-node, nodemon ...): then the image
// keeps the devDependencies, and says why.
func (b *builder) startNeedsDev() (bool, string) {
	if v := b.bc.Getenv("BP_KEEP_DEV_DEPENDENCIES"); v == "true" || v == "1" {
		return true, "BP_KEEP_DEV_DEPENDENCIES"
	}
	start, ok := nodepkg.StartOf(b.bc.AppDir, b.pkg)
	if !ok || start.Script == "" {
		return false, ""
	}
	w := b.startProgram()
	_, dev := b.pkg.DevDependencies[w]
	_, prod := b.pkg.Dependencies[w]
	if w != "" && dev && !prod {
		return true, "the start script runs " + w + ", a devDependency (move it to dependencies to say so)"
	}
	return false, ""
}

// startProgram is the first program the start script runs ("" for none).
func (b *builder) startProgram() string {
	start, ok := nodepkg.StartOf(b.bc.AppDir, b.pkg)
	if !ok || start.Script == "" {
		return ""
	}
	for _, w := range strings.Fields(startScript(b.pkg, start.Script)) {
		if !strings.Contains(w, "=") { // not an assignment
			return w
		}
	}
	return ""
}

// devBinNeeded reports whether the start script's program is a bin that
// only the full install (dev) has, under a name no dependency has (nest
// from @nestjs/cli): the image then keeps the devDependencies.
func (b *builder) devBinNeeded(dev *sdk.Layer) (bool, string) {
	w := b.startProgram()
	if w == "" || strings.Contains(w, "/") || w == "node" {
		return false, ""
	}
	if _, prod := b.pkg.Dependencies[w]; prod {
		return false, ""
	}
	if _, err := os.Lstat(filepath.Join(dev.Path, "node_modules", ".bin", w)); err != nil {
		return false, ""
	}
	return true, "the start script runs " + w + ", which only the devDependencies provide"
}

// setProcess makes the default web process from the app's start: a file
// runs with node; a start script of plain words runs directly (its first
// word found on PATH, which holds node and node_modules/.bin; a package's
// bin that is a Node.js script runs with node, since the run image has no
// /usr/bin/env), any other through kiln-exec, since the run image has no
// shell.
func (b *builder) setProcess() error {
	start, ok := nodepkg.StartOf(b.bc.AppDir, b.pkg)
	if !ok {
		b.log.Warn("no start script, server.js or main file: the image gets no Node.js process (add scripts.start to package.json to run a server)")
		return nil
	}
	cmd := []string{"node", start.File}
	if start.Script != "" {
		script := startScript(b.pkg, start.Script)
		if script != start.Script {
			b.log.Detail("the start script %q runs %q (the image has no %s)", start.Script, script, strings.Fields(start.Script)[0])
		}
		var err error
		if cmd, err = execlayer.Command(b.bc, script); err != nil {
			return err
		}
		cmd = b.viaNode(cmd)
	}
	b.bc.Launch.AddProcess(sdk.Process{Type: "web", Command: cmd, Default: true})
	b.log.Step("Process web (default): %s, from %s", strings.Join(cmd, " "), start.Source)
	return nil
}

// viaNode turns a command that runs a package's bin (node_modules/.bin/X,
// a script starting with #!/usr/bin/env node) into node running that
// script.
func (b *builder) viaNode(cmd []string) []string {
	if b.modules == nil || strings.Contains(cmd[0], "/") {
		return cmd
	}
	bin := filepath.Join(b.modules.Path, "node_modules", ".bin", cmd[0])
	target, err := filepath.EvalSymlinks(bin)
	if err != nil {
		return cmd
	}
	f, err := os.Open(target)
	if err != nil {
		return cmd
	}
	defer f.Close()
	head := make([]byte, 128)
	n, _ := f.Read(head)
	line, _, _ := strings.Cut(string(head[:n]), "\n")
	if !strings.HasPrefix(line, "#!") || !strings.Contains(line, "node") {
		return cmd
	}
	return append([]string{"node", target}, cmd[1:]...)
}
