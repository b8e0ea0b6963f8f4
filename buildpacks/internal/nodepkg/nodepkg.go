package nodepkg

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kiln-build/kiln/buildpacks/internal/fsutil"
)

// Package is the part of package.json the buildpacks use.
type Package struct {
	Name            string            `json:"name"`
	Main            string            `json:"main"`
	Scripts         map[string]string `json:"scripts"`
	Engines         map[string]string `json:"engines"`
	Dependencies    map[string]string `json:"dependencies"`
	DevDependencies map[string]string `json:"devDependencies"`
	// PackageManager is corepack's "packageManager" field: "pnpm@9.9.0".
	PackageManager string `json:"packageManager"`
}

// Parse decodes package.json content; name identifies the file in errors.
func Parse(name string, data []byte) (*Package, error) {
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, describe(name, data, err)
	}
	if raw == nil {
		return nil, fmt.Errorf("%s: not a JSON object", name)
	}
	p := &Package{}
	fields := []struct {
		key string
		dst any
	}{
		{"name", &p.Name}, {"main", &p.Main}, {"scripts", &p.Scripts}, {"engines", &p.Engines},
		{"dependencies", &p.Dependencies}, {"devDependencies", &p.DevDependencies},
		{"packageManager", &p.PackageManager},
	}
	for _, f := range fields {
		v, ok := raw[f.key]
		if !ok || string(v) == "null" {
			continue
		}
		if err := json.Unmarshal(v, f.dst); err != nil {
			return nil, fmt.Errorf("%s: %q has the wrong type: %w", name, f.key, err)
		}
	}
	return p, nil
}

// describe turns a JSON error into one naming the line and column.
func describe(name string, data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		// Offset counts the bytes read, the offending one included
		line, col := position(data, max(se.Offset-1, 0))
		return fmt.Errorf("%s:%d:%d: invalid JSON: %v", name, line, col, se)
	case errors.As(err, &te):
		return fmt.Errorf("%s: the top level must be a JSON object, not %s", name, te.Value)
	}
	return fmt.Errorf("%s: invalid JSON: %w", name, err)
}

func position(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// Read parses <dir>/package.json.
func Read(dir string) (*Package, error) {
	p := filepath.Join(dir, "package.json")
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	return Parse(p, data)
}

// Start is how the app starts, if it is a server.
type Start struct {
	// Script is the start script, when package.json has one.
	Script string
	// File is the JavaScript file to run with node otherwise.
	File string
	// Source explains the choice for the build log.
	Source string
}

// StartOf works out the start command of the app in dir as npm start
// would: scripts.start, else "node server.js" when server.js exists; the
// buildpacks also accept the file named by main. ok is false when the app
// has no start command (a library, or a site built by a build script).
func StartOf(dir string, p *Package) (Start, bool) {
	if s := p.Scripts["start"]; s != "" {
		return Start{Script: s, Source: "scripts.start in package.json"}, true
	}
	if fsutil.IsFile(filepath.Join(dir, "server.js")) {
		return Start{File: "server.js", Source: "server.js, npm's default start"}, true
	}
	if p.Main != "" && fsutil.IsFile(filepath.Join(dir, filepath.FromSlash(p.Main))) {
		return Start{File: p.Main, Source: "main in package.json"}, true
	}
	return Start{}, false
}
