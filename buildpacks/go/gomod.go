package main

import (
	"fmt"
	"os"

	"golang.org/x/mod/modfile"
)

// goMod is what the buildpack needs from go.mod.
type goMod struct {
	Module    string
	Go        string // the go line, "" when missing
	Toolchain string // the toolchain line without "go", "" when missing
}

// parseGoMod parses go.mod content; name identifies the file in errors,
// which carry the line number.
func parseGoMod(name string, data []byte) (goMod, error) {
	f, err := modfile.Parse(name, data, nil)
	if err != nil {
		return goMod{}, err
	}
	var m goMod
	if f.Module != nil {
		m.Module = f.Module.Mod.Path
	}
	if m.Module == "" {
		return goMod{}, fmt.Errorf("%s: no module line", name)
	}
	if f.Go != nil {
		m.Go = f.Go.Version
	}
	if f.Toolchain != nil {
		t := f.Toolchain.Name
		if len(t) > 2 && t[:2] == "go" {
			m.Toolchain = t[2:]
		}
	}
	return m, nil
}

func readGoMod(path string) (goMod, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return goMod{}, fmt.Errorf("reading %s: %w", path, err)
	}
	return parseGoMod(path, data)
}
