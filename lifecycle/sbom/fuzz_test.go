package sbom

import (
	"testing"

	"github.com/kiln-build/kiln/internal/bom"
)

// FuzzParse feeds hostile SBOM files (an image's SBOM layers are outside
// input) through both parsers and the merged documents: no panic.
func FuzzParse(f *testing.F) {
	f.Add(`{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"type":"library","name":"a","version":"1","purl":"pkg:npm/a@1","components":[{"name":"b"}]}]}`)
	f.Add(`{"spdxVersion":"SPDX-2.3","packages":[{"SPDXID":"SPDXRef-a","name":"a","versionInfo":"1","externalRefs":[{"referenceType":"purl","referenceLocator":"pkg:npm/a@1"}]}]}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, data string) {
		for _, name := range []string{"sbom.cdx.json", "sbom.spdx.json"} {
			comps, err := parse(file{name: name, data: []byte(data)})
			if err != nil {
				continue
			}
			d := bom.Document{Subject: bom.Component{Name: "app"}, Components: tag(comps, SourceBuildpack, "l", "s", "bp", "", name)}
			_, _ = d.CycloneDX()
			_, _ = d.SPDX()
		}
	})
}
