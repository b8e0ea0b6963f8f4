package provenance

import "testing"

// Decode reads predicates from attestations: it must not panic on any
// input, and what it accepts must encode again.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"buildDefinition":{"buildType":"x","externalParameters":{"source":{"git":{"commit":"a"}}}}}`))
	f.Add([]byte(`{"buildDefinition":{"buildType":"x","resolvedDependencies":[{"name":"builder","digest":{"sha256":"00"}}]}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Decode(data)
		if err != nil {
			return
		}
		if _, err := p.JSON(); err != nil {
			t.Fatal(err)
		}
		p.Dependency(DepBuilder)
	})
}
