package buildphase

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kiln-build/kiln/internal/buildsbom"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/launch"
)

// Files in a buildpack's layers directory that are not layer metadata.
const (
	launchTOML = "launch.toml"
	buildTOML  = "build.toml"
	storeTOML  = "store.toml"
)

// reservedLayerNames may not name a layer directory.
var reservedLayerNames = map[string]bool{"build": true, "launch": true, "store": true}

// ignoreSuffix is appended to the directory of a layer with no types.
const ignoreSuffix = ".ignore"

// layerScan is what checkLayers found in a buildpack's layers directory.
type layerScan struct {
	// buildDirs are the directories of the build = true layers, in name
	// order.
	buildDirs []string
	// buildSBOMs are build.sbom.<ext> and the SBOMs of the layers that
	// are not launch layers (a build-time SBOM, never in the image).
	buildSBOMs []buildsbom.Source
}

// checkLayers validates what a buildpack left in its layers directory dir
// after bin/build:
//   - no layer directory is named build, launch or store;
//   - every <layer>.toml names a layer (not "", "." or ".."), parses,
//     keeps its flags under [types] and has a well-formed
//     metadata.exec-env;
//   - a cache = true layer has a directory;
//   - every <name>.sbom.<ext> file is in a format the buildpack declares
//     in sbom-formats.
//
// It then renames the directory of every layer whose types are all false
// (or that has no <layer>.toml) to <layer>.ignore, so later buildpacks
// cannot depend on it, and returns the build = true layers and the build
// SBOM files.
func checkLayers(dir string, bp *descriptor.Buildpack) (layerScan, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return layerScan{}, fmt.Errorf("reading layers directory %s: %w", dir, err)
	}
	dirs := map[string]bool{}
	var tomls, sboms []string
	for _, ent := range entries {
		name := ent.Name()
		switch {
		case ent.IsDir():
			if strings.HasSuffix(name, ignoreSuffix) {
				continue
			}
			if reservedLayerNames[name] {
				return layerScan{}, fmt.Errorf("%s: a layer may not be named %q (reserved)", filepath.Join(dir, name), name)
			}
			dirs[name] = true
		case strings.Contains(name, ".sbom."):
			sboms = append(sboms, name)
		case strings.HasSuffix(name, ".toml") && name != launchTOML && name != buildTOML && name != storeTOML:
			tomls = append(tomls, name)
		}
	}
	if err := checkSBOMs(dir, sboms, bp); err != nil {
		return layerScan{}, err
	}
	types, err := readLayerTypes(dir, tomls, dirs)
	if err != nil {
		return layerScan{}, err
	}
	scan := layerScan{buildSBOMs: buildSBOMs(dir, sboms, bp.Buildpack.ID, types)}
	names := make([]string, 0, len(dirs))
	for n := range dirs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := filepath.Join(dir, n)
		t := types[n]
		if t.None() {
			if err := hideLayer(p); err != nil {
				return layerScan{}, err
			}
			continue
		}
		if t.Build {
			scan.buildDirs = append(scan.buildDirs, p)
		}
	}
	return scan, nil
}

// readLayerTypes reads the <layer>.toml files tomls of dir, whose layer
// directories are dirs, and returns each layer's types.
func readLayerTypes(dir string, tomls []string, dirs map[string]bool) (map[string]launch.LayerTypes, error) {
	types := map[string]launch.LayerTypes{}
	for _, t := range tomls {
		name := strings.TrimSuffix(t, ".toml")
		p := filepath.Join(dir, t)
		if name == "" || name == "." || name == ".." {
			return nil, fmt.Errorf("%s: %q cannot name a layer", p, name)
		}
		l, err := launch.ReadLayer(p)
		if err != nil {
			return nil, err
		}
		if _, err := l.ExecEnv(); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if l.Types.Cache && !dirs[name] {
			return nil, fmt.Errorf("%s: cache = true but the layer directory %s does not exist", p, filepath.Join(dir, name))
		}
		types[name] = l.Types
	}
	return types, nil
}

// buildSBOMs picks the build-time SBOMs among the SBOM files sboms of
// dir (checked by checkSBOMs): build.sbom.<ext>, and <layer>.sbom.<ext>
// of a layer with a <layer>.toml that is not a launch layer, as the
// reference lifecycle does. launch.sbom.<ext> and launch layers' SBOMs
// go into the image instead (see internal/export).
func buildSBOMs(dir string, sboms []string, id string, types map[string]launch.LayerTypes) []buildsbom.Source {
	var out []buildsbom.Source
	for _, f := range sboms {
		i := strings.LastIndex(f, ".sbom.")
		name, ext := f[:i], f[i+len(".sbom."):]
		src := buildsbom.Source{BuildpackID: id, Ext: ext, Path: filepath.Join(dir, f)}
		switch t, isLayer := types[name]; {
		case name == "build":
		case isLayer && !t.Launch:
			src.Layer = name
		default:
			continue
		}
		out = append(out, src)
	}
	return out
}

// hideLayer renames the layer directory p to p.ignore, replacing an older
// one.
func hideLayer(p string) error {
	dst := p + ignoreSuffix
	if err := os.RemoveAll(dst); err != nil {
		return fmt.Errorf("removing old ignored layer %s: %w", dst, err)
	}
	if err := os.Rename(p, dst); err != nil {
		return fmt.Errorf("renaming ignored layer %s: %w", p, err)
	}
	return nil
}

// checkSBOMs checks that each SBOM file in dir (<layer>.sbom.<ext>,
// launch.sbom.<ext>, build.sbom.<ext>) has a known extension whose media
// type the buildpack declares in sbom-formats.
func checkSBOMs(dir string, files []string, bp *descriptor.Buildpack) error {
	if len(files) == 0 {
		return nil
	}
	declared := map[string]bool{}
	for _, mt := range bp.Buildpack.SBOMFormats {
		if ext, ok := descriptor.SBOMFormats[mt]; ok {
			declared[ext] = true
		}
	}
	known := map[string]string{}
	for mt, ext := range descriptor.SBOMFormats {
		known[ext] = mt
	}
	for _, f := range files {
		p := filepath.Join(dir, f)
		ext := f[strings.LastIndex(f, ".sbom.")+len(".sbom."):]
		mt, ok := known[ext]
		if !ok {
			return fmt.Errorf("%s: unknown SBOM extension %q (want cdx.json, spdx.json or syft.json)", p, ext)
		}
		if !declared[ext] {
			return fmt.Errorf("%s: SBOM format %s is not declared in sbom-formats of %s", p, mt, filepath.Join(bp.Dir, descriptor.BuildpackFile))
		}
	}
	return nil
}
