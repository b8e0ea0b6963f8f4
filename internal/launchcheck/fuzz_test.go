package launchcheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzScript feeds hostile first lines (as a buildpack's script may have)
// through the #! check: it must not panic, and a line naming a missing
// interpreter is a problem.
func FuzzScript(f *testing.F) {
	for _, s := range []string{"#!/usr/bin/env node\n", "#!\n", "#!/bin/sh -e\n", "#! /usr/bin/env -S node --x\n", "#!" + strings.Repeat("/a", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, head string) {
		if !strings.HasPrefix(head, "#!") {
			head = "#!" + head
		}
		dir := t.TempDir()
		p := filepath.Join(dir, "s")
		if err := os.WriteFile(p, []byte(head), 0o755); err != nil {
			t.Fatal(err)
		}
		c := &checker{v: &view{run: Index{}, layersPath: "/layers", appPath: "/workspace", layersDir: dir, appDir: dir,
			launchLayers: map[string]bool{}, unseen: map[string]bool{}}, seen: map[string]bool{}, proc: "web", wd: "/workspace"}
		c.script("/workspace/s", head, false, 0)
		_ = firstWord(head)
		_ = envTarget(head)
	})
}

// FuzzELF feeds hostile ELF files (a launch layer's program or library)
// through the dynamic loader and library check: it must not panic.
func FuzzELF(f *testing.F) {
	if b, err := os.ReadFile("/bin/true"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		p := filepath.Join(dir, "prog")
		if err := os.WriteFile(p, data, 0o755); err != nil {
			t.Fatal(err)
		}
		c := &checker{v: &view{run: Index{}, layersPath: "/layers", appPath: "/workspace", layersDir: dir, appDir: dir,
			launchLayers: map[string]bool{}, unseen: map[string]bool{}}, seen: map[string]bool{}, proc: "web", wd: "/workspace"}
		c.elf("/workspace/prog", p)
	})
}
