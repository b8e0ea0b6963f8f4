package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-build/kiln/buildpacks/internal/layerbom"
	"github.com/kiln-build/kiln/internal/bom"
)

// maxLockfile bounds the lockfile the SBOM is read from.
const maxLockfile = 128 << 20

// hiddenLockfile is the lockfile npm writes into node_modules: what it
// actually installed there.
const hiddenLockfile = ".package-lock.json"

// lockEntry is one entry of a package-lock.json (v2, v3) "packages" map.
type lockEntry struct {
	Name    string          `json:"name"`
	Version string          `json:"version"`
	License json.RawMessage `json:"license"`
	Dev     bool            `json:"dev"`
	Link    bool            `json:"link"`
}

type lockFile struct {
	LockfileVersion int                  `json:"lockfileVersion"`
	Packages        map[string]lockEntry `json:"packages"`
}

// lockComponents lists the production packages of a package-lock.json
// (v2 or v3 "packages"): every entry under node_modules that is not
// dev: true and not a link. When installed is not nil, an entry it
// reports missing (an optional package for another platform) is left out.
func lockComponents(data []byte, installed func(path string) bool) ([]bom.Component, error) {
	var lf lockFile
	if err := json.Unmarshal(data, &lf); err != nil {
		return nil, err
	}
	if lf.Packages == nil {
		return nil, fmt.Errorf("lockfileVersion %d has no \"packages\" (npm 7 or later writes them)", lf.LockfileVersion)
	}
	var out []bom.Component
	for path, e := range lf.Packages {
		i := strings.LastIndex(path, "node_modules/")
		if i < 0 || e.Dev || e.Link {
			continue // the root, a workspace's source, a dev package, a link
		}
		if installed != nil && !installed(path) {
			continue
		}
		name := e.Name
		if name == "" {
			name = path[i+len("node_modules/"):]
		}
		c := bom.Component{Name: name, Version: e.Version, PURL: bom.NPMPURL(name, e.Version)}
		if l := licenseOf(e.License); l != "" {
			c.Licenses = []string{l}
		}
		out = append(out, c)
	}
	return out, nil
}

// licenseOf reads a lockfile licence: a string, or the old {"type": ...}.
func licenseOf(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	var o struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(raw, &o) == nil {
		return strings.TrimSpace(o.Type)
	}
	return ""
}

// readBounded reads at most maxLockfile bytes of p.
func readBounded(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxLockfile+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	if len(data) > maxLockfile {
		return nil, fmt.Errorf("%s is larger than %d MiB", p, maxLockfile>>20)
	}
	return data, nil
}

// writeModulesSBOM writes the SBOM of the modules layer: the app's
// lockfile, less dev packages and packages npm did not install into the
// layer; without a lockfile, the layer's node_modules/.package-lock.json.
// It reads one file and checks one package.json per package; the tree
// itself is not read.
func (b *builder) writeModulesSBOM(lock string) error {
	layer := b.modules
	root := layer.Path
	var installed func(string) bool
	if fi, err := os.Stat(filepath.Join(root, "node_modules")); err == nil && fi.IsDir() {
		installed = func(p string) bool {
			_, err := os.Stat(filepath.Join(root, filepath.FromSlash(p), "package.json"))
			return err == nil
		}
	}
	src := lock
	if src == "" {
		src = filepath.Join(root, "node_modules", hiddenLockfile)
	}
	var comps []bom.Component
	data, err := readBounded(src)
	switch {
	case errors.Is(err, fs.ErrNotExist) && lock == "":
		b.log.Detail("no %s in layer %s: its SBOM lists no packages", hiddenLockfile, layer.Name)
	case err != nil:
		return err
	default:
		if comps, err = lockComponents(data, installed); err != nil {
			return fmt.Errorf("reading the packages of %s for the SBOM: %w", src, err)
		}
	}
	return layerbom.Write(b.bc, layer, comps)
}

// writeNodeSBOM writes the SBOM of the node layer: Node.js, from the npm
// package it came from, and the libraries added from Debian.
func (b *builder) writeNodeSBOM(version, pkgName string) error {
	comps := []bom.Component{{
		Type:       bom.TypeFramework,
		Name:       "node",
		Version:    version,
		PURL:       bom.NPMPURL(pkgName, version),
		Properties: []bom.Property{{Name: "kiln:npm-package", Value: pkgName}},
	}}
	for _, lib := range runtimeLibs {
		v, ok := b.nodeLayer.Info[lib].(string)
		if !ok || v == "" {
			continue
		}
		t := b.bc.Target
		q := map[string]string{"arch": t.Arch}
		if t.DistroName != "" && t.DistroVersion != "" {
			q["distro"] = t.DistroName + "-" + t.DistroVersion
		}
		comps = append(comps, bom.Component{
			Name: lib, Version: v,
			PURL: bom.PURL("deb", t.DistroName, lib, v, q),
		})
	}
	return layerbom.Write(b.bc, b.nodeLayer, comps)
}
