package layerbom

import (
	"debug/buildinfo"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-build/kiln/buildpacks/sdk"
	"github.com/kiln-build/kiln/internal/bom"
)

// Exts are the SBOM file extensions Write writes, one per format.
var Exts = []string{"cdx.json", "spdx.json"}

// Write writes the SBOM files of layer: <layers>/<layer>.sbom.cdx.json and
// .sbom.spdx.json, listing comps, with the buildpack and layer as subject.
func Write(bc *sdk.BuildContext, layer *sdk.Layer, comps []bom.Component) error {
	d := bom.Document{
		Subject: bom.Component{
			Type:    bom.TypeApplication,
			Name:    bc.Buildpack.ID + ":" + layer.Name,
			Version: bc.Buildpack.Version,
			Properties: []bom.Property{
				{Name: "kiln:buildpack", Value: bc.Buildpack.ID},
				{Name: "kiln:layer-name", Value: layer.Name},
			},
		},
		Components: comps,
		Created:    bom.Created(bc.Getenv),
	}
	return WriteFiles(bc.LayersDir, layer.Name, d)
}

// WriteFiles writes d as dir/<name>.sbom.cdx.json and
// dir/<name>.sbom.spdx.json.
func WriteFiles(dir, name string, d bom.Document) error {
	cdx, err := d.CycloneDX()
	if err != nil {
		return fmt.Errorf("SBOM of layer %s: %w", name, err)
	}
	spdx, err := d.SPDX()
	if err != nil {
		return fmt.Errorf("SBOM of layer %s: %w", name, err)
	}
	for ext, data := range map[string][]byte{"cdx.json": cdx, "spdx.json": spdx} {
		p := filepath.Join(dir, name+".sbom."+ext)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", p, err)
		}
	}
	return nil
}

// GoBinary lists what the Go binary at path was built from, as its
// build information says (what `go version -m` prints): the standard
// library of its Go version, the main module, and every dependency
// module, a replaced one as its replacement.
func GoBinary(path string) ([]bom.Component, error) {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the Go build information of %s: %w", path, err)
	}
	goVersion := bi.GoVersion
	out := []bom.Component{{
		Type:       bom.TypeFramework,
		Name:       "stdlib",
		Version:    goVersion,
		PURL:       bom.GoPURL("stdlib", strings.TrimPrefix(goVersion, "go")),
		Properties: []bom.Property{{Name: "kiln:go:toolchain", Value: goVersion}},
	}}
	if bi.Main.Path != "" {
		out = append(out, bom.Component{
			Type:       bom.TypeApplication,
			Name:       bi.Main.Path,
			Version:    bi.Main.Version,
			PURL:       bom.GoPURL(bi.Main.Path, purlVersion(bi.Main.Version)),
			Properties: []bom.Property{{Name: "kiln:go:main", Value: "true"}},
		})
	}
	for _, d := range bi.Deps {
		c := bom.Component{Name: d.Path, Version: d.Version, PURL: bom.GoPURL(d.Path, purlVersion(d.Version))}
		if r := d.Replace; r != nil {
			if isDirPath(r.Path) {
				// a directory replacement is no release: the module keeps
				// its path, with the version Go gives it, "(devel)"
				c.Version, c.PURL = r.Version, bom.GoPURL(d.Path, purlVersion(r.Version))
				c.Properties = []bom.Property{{Name: "kiln:go:replaced-by", Value: r.Path}}
			} else {
				// a module replacement: what was compiled in
				c.Name, c.Version, c.PURL = r.Path, r.Version, bom.GoPURL(r.Path, r.Version)
				c.Properties = []bom.Property{{Name: "kiln:go:replaces", Value: d.Path + "@" + d.Version}}
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// isDirPath reports whether a replacement path is a directory (go.mod's
// rule: it starts with ./, ../ or /), not a module path.
func isDirPath(p string) bool {
	return p == "." || p == ".." || strings.HasPrefix(p, "./") || strings.HasPrefix(p, "../") || strings.HasPrefix(p, "/")
}

// purlVersion leaves out the version "(devel)" of a module built from a
// work tree: it names no release.
func purlVersion(v string) string {
	if v == "(devel)" {
		return ""
	}
	return v
}

// Tool is a program kiln ships with a buildpack (its static server,
// kiln-exec): a generic package of the buildpack's version, qualified by
// the binary's SHA-256.
func Tool(name, version, sha256 string) bom.Component {
	return bom.Component{
		Type:    bom.TypeApplication,
		Name:    name,
		Version: version,
		PURL:    bom.PURL("generic", "kiln-build", name, version, map[string]string{"checksum": "sha256:" + sha256}),
	}
}

// ToolSBOM writes the SBOM of a layer holding one of kiln's own tools,
// the binary bin with the given SHA-256: the tool, and what it was built
// from when its build information can be read.
func ToolSBOM(bc *sdk.BuildContext, layer *sdk.Layer, name, bin, sum string) error {
	comps, err := GoBinary(bin)
	if err != nil {
		bc.Log.Detail("the SBOM of layer %s lists %s alone: %v", layer.Name, name, err)
		comps = nil
	}
	comps = append(comps, Tool(name, bc.Buildpack.Version, sum))
	return Write(bc, layer, comps)
}
