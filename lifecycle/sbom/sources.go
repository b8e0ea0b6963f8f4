package sbom

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/kiln-build/kiln/internal/bom"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// baseSBOMDir is where a run image keeps its SBOM files.
const baseSBOMDir = "cnb/sbom"

// formats are the SBOM file extensions read, preferred first; syft.json
// files are accepted and skipped.
var formats = []string{"cdx.json", "spdx.json"}

const syftExt = "syft.json"

// extOf returns the SBOM extension of a file name, or "".
func extOf(name string) string {
	for _, e := range append(slices.Clone(formats), syftExt) {
		if strings.HasSuffix(name, "."+e) {
			return e
		}
	}
	return ""
}

// runImage reads the run image's SBOM layer: the files directly in
// cnb/sbom, a CycloneDX one preferred.
func (r *reader) runImage(ctx context.Context, sha string) ([]bom.Component, error) {
	what := "run image SBOM layer (" + LabelBaseSBOM + ")"
	files, err := r.readLayer(ctx, what, sha, func(p string, dir bool) (bool, error) {
		if dir {
			if p == "cnb" || p == baseSBOMDir || p == "" {
				return false, nil
			}
			return false, fmt.Errorf("directory %s is not %s", p, baseSBOMDir)
		}
		if path.Dir(p) != baseSBOMDir || extOf(p) == "" {
			return false, fmt.Errorf("file %s is not an SBOM file in %s (*.cdx.json, *.spdx.json)", p, baseSBOMDir)
		}
		return extOf(p) != syftExt, nil
	})
	if err != nil {
		return nil, err
	}
	f, ok := preferred(files)
	if !ok {
		return nil, fmt.Errorf("%s %s holds no CycloneDX or SPDX file in %s", what, sha, baseSBOMDir)
	}
	comps, err := parse(f)
	if err != nil {
		return nil, err
	}
	return tag(comps, SourceRunImage, sha, sha, "", "", f.name), nil
}

// preferred returns the first file of the most preferred format.
func preferred(files []file) (file, bool) {
	for _, ext := range formats {
		for _, f := range files {
			if extOf(f.name) == ext {
				return f, true
			}
		}
	}
	return file{}, false
}

// bpPath splits the path of a file in the app image's SBOM layer,
// <root>/sbom/launch/<buildpack>/[<layer>/]sbom.<ext>, into its parts;
// layer is "" for a buildpack's launch.sbom.
func bpPath(p string) (root, bp, layer, ext string, err error) {
	segs := strings.Split(p, "/")
	i := slices.Index(segs, "sbom")
	if i < 0 || i+3 >= len(segs) || segs[i+1] != "launch" {
		return "", "", "", "", fmt.Errorf("file %s is not under <layers>/sbom/launch", p)
	}
	rest := segs[i+2:]
	name := rest[len(rest)-1]
	ext = strings.TrimPrefix(name, "sbom.")
	if len(rest) > 3 || !strings.HasPrefix(name, "sbom.") || extOf(name) != ext {
		return "", "", "", "", fmt.Errorf("file %s is not <layers>/sbom/launch/<buildpack>/[<layer>/]sbom.<cdx.json|spdx.json|syft.json>", p)
	}
	if len(rest) == 3 {
		layer = rest[1]
	}
	return strings.Join(segs[:i], "/"), rest[0], layer, ext, nil
}

// buildpacks reads the app image's SBOM layer: for each buildpack and
// layer one document, CycloneDX preferred.
func (r *reader) buildpacks(ctx context.Context, md labels.Lifecycle) ([]bom.Component, error) {
	sha := md.SBOM.SHA
	root, rootSet := "", false
	files, err := r.readLayer(ctx, "SBOM layer", sha, func(p string, dir bool) (bool, error) {
		if dir {
			return false, nil // a directory holds nothing to read
		}
		rt, _, _, ext, err := bpPath(p)
		switch {
		case err != nil:
			return false, err
		case !rootSet:
			root, rootSet = rt, true
		case rt != root:
			return false, fmt.Errorf("file %s is not under %s/sbom/launch like the others", p, root)
		}
		return ext != syftExt, nil
	})
	if err != nil {
		return nil, err
	}
	type key struct{ bp, layer string }
	groups := map[key][]file{}
	for _, f := range files {
		_, bp, layer, _, _ := bpPath(f.name)
		k := key{bp, layer}
		groups[k] = append(groups[k], f)
	}
	ids := map[string]labels.BuildpackEntry{}
	for _, b := range md.Buildpacks {
		ids[descriptor.EscapeID(b.Key)] = b
	}
	var out []bom.Component
	for _, k := range slices.SortedFunc(maps.Keys(groups), func(a, b key) int {
		return cmp.Or(cmp.Compare(a.bp, b.bp), cmp.Compare(a.layer, b.layer))
	}) {
		f, _ := preferred(groups[k])
		comps, err := parse(f)
		if err != nil {
			return nil, fmt.Errorf("SBOM layer %s: %w", sha, err)
		}
		entry, ok := ids[k.bp]
		if !ok {
			return nil, fmt.Errorf("SBOM layer %s: file %s names buildpack %q, which did not take part in the build", sha, f.name, k.bp)
		}
		layerSHA := sha
		if k.layer != "" {
			lm, ok := entry.Layers[k.layer]
			if !ok || lm.SHA == "" {
				return nil, fmt.Errorf("SBOM layer %s: file %s names layer %q, which buildpack %s did not contribute", sha, f.name, k.layer, entry.Key)
			}
			layerSHA = lm.SHA
		}
		out = append(out, tag(comps, SourceBuildpack, layerSHA, sha, entry.Key, k.layer, f.name)...)
	}
	return out, nil
}

// tag adds the kiln:* properties of where they came from to comps,
// replacing any the document had.
func tag(comps []bom.Component, source, layer, sbomLayer, bp, bpLayer, name string) []bom.Component {
	add := []bom.Property{
		{Name: PropSource, Value: source},
		{Name: PropLayer, Value: layer},
		{Name: PropSBOMLayer, Value: sbomLayer},
		{Name: PropFile, Value: name},
	}
	if bp != "" {
		add = append(add, bom.Property{Name: PropBuildpack, Value: bp})
	}
	if bpLayer != "" {
		add = append(add, bom.Property{Name: PropBuildpackLayer, Value: bpLayer})
	}
	for i := range comps {
		ps := slices.DeleteFunc(comps[i].Properties, func(p bom.Property) bool {
			return slices.Contains([]string{PropSource, PropLayer, PropSBOMLayer, PropFile, PropBuildpack, PropBuildpackLayer}, p.Name)
		})
		comps[i].Properties = append(ps, add...)
		comps[i].BOMRef = ""
	}
	return comps
}
