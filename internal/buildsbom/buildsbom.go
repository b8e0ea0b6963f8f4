package buildsbom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/kiln-build/kiln/internal/cnbtoml"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/sbom"
)

// Dir is where the build SBOMs go, relative to the layers dir (and, as
// "build", to a platform's SBOM output dir).
const Dir = "sbom/build"

// LegacyFile holds the legacy build BOM, in Dir.
const LegacyFile = "sbom.legacy.json"

// Source is one SBOM file a buildpack wrote for the build.
type Source struct {
	BuildpackID string
	// Layer is the layer it describes; empty for build.sbom.<ext>.
	Layer string
	// Ext is cdx.json, spdx.json or syft.json.
	Ext string
	// Path is the file the buildpack wrote.
	Path string
}

// Buildpack names the buildpack of a legacy BOM entry.
type Buildpack struct {
	ID      string `json:"id"`
	Version string `json:"version"`
}

// LegacyEntry is one [[bom]] entry of a buildpack's build.toml, as the
// reference lifecycle writes it to sbom.legacy.json.
type LegacyEntry struct {
	cnbtoml.BOMEntry
	Buildpack Buildpack `json:"buildpack"`
}

// KnownExt says whether ext is the extension of an SBOM media type.
func KnownExt(ext string) bool {
	for _, e := range descriptor.SBOMFormats {
		if e == ext {
			return true
		}
	}
	return false
}

// validLayer says whether name can name a layer's directory here.
func validLayer(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

// Write replaces <layersDir>/sbom/build with copies of srcs and, when
// there are any, the legacy entries. It runs in the build container.
func Write(layersDir string, srcs []Source, legacy []LegacyEntry) error {
	dir := filepath.Join(layersDir, filepath.FromSlash(Dir))
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clearing %s: %w", dir, err)
	}
	if len(srcs) == 0 && len(legacy) == 0 {
		return nil
	}
	for _, s := range srcs {
		if !KnownExt(s.Ext) || (s.Layer != "" && !validLayer(s.Layer)) {
			return fmt.Errorf("build SBOM %s: layer %q, extension %q: not one kiln keeps", s.Path, s.Layer, s.Ext)
		}
		dst := filepath.Join(dir, descriptor.EscapeID(s.BuildpackID), s.Layer, "sbom."+s.Ext)
		if err := copyFile(s.Path, dst); err != nil {
			return err
		}
	}
	if len(legacy) == 0 {
		return nil
	}
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(legacy); err != nil {
		return fmt.Errorf("encoding the legacy build BOM: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	p := filepath.Join(dir, LegacyFile)
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return nil
}

// copyFile copies the regular file src (not a link, at most
// sbom.MaxDocument bytes) to dst, creating its directory.
func copyFile(src, dst string) error {
	in, err := os.OpenFile(src, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("reading build SBOM %s: %w", src, err)
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return fmt.Errorf("reading build SBOM %s: %w", src, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("build SBOM %s is not a regular file", src)
	}
	if fi.Size() > sbom.MaxDocument {
		return fmt.Errorf("build SBOM %s is %d bytes, more than the %d MiB kiln keeps", src, fi.Size(), sbom.MaxDocument>>20)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(dst), err)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("copying build SBOM %s: %w", src, err)
	}
	_, err = io.Copy(out, io.LimitReader(in, sbom.MaxDocument))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copying build SBOM %s to %s: %w", src, dst, err)
	}
	return nil
}

// errShape is wrapped by Read's errors for an entry that may not be in
// the build SBOM tree.
var errShape = errors.New("is not a build SBOM file kiln expects")

// sortFiles orders files by path, so output does not depend on the
// directory's order.
func sortFiles(files []sbom.File) {
	slices.SortFunc(files, func(a, b sbom.File) int { return strings.Compare(a.Path, b.Path) })
}

// outPath is where a build SBOM file at rel (relative to Dir) goes in a
// platform's SBOM output dir.
func outPath(rel string) string { return path.Join("build", rel) }
