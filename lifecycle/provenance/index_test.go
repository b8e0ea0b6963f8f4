package provenance

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
)

func imageRefs(t *testing.T, hexes ...string) []ImageRef {
	t.Helper()
	plats := []string{"linux/amd64", "linux/arm64/v8"}
	var out []ImageRef
	for i, h := range hexes {
		d, err := name.NewDigest("reg.example/app@sha256:" + strings.Repeat(h, 64))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ImageRef{Ref: d, Platform: plats[i%len(plats)]})
	}
	return out
}

// TestNewIndex: the index's provenance has the build's parameters, the
// builder by name and one dependency per image; the source is described
// once when the build says how.
func TestNewIndex(t *testing.T) {
	src := Source{Git: &GitSource{Commit: strings.Repeat("c", 40), Remote: "https://git.example/app"}}
	b := Build{
		BuilderRef:  "reg.example/builder:1",
		SourceDir:   "/nonexistent/never/read", // Source is used instead
		Source:      &src,
		EnvNames:    []string{"GOFLAGS"},
		Buildpacks:  []string{"kiln/go"},
		KilnVersion: "1.0.0",
	}
	p, err := NewIndex(context.Background(), b, imageRefs(t, "1", "2"))
	if err != nil {
		t.Fatal(err)
	}
	want := []ResourceDescriptor{
		{Name: DepBuilder, URI: "oci://reg.example/builder:1"},
		{Name: DepImage, URI: "oci://reg.example/app@sha256:" + strings.Repeat("1", 64), Digest: map[string]string{"sha256": strings.Repeat("1", 64)}, Annotations: map[string]string{"platform": "linux/amd64"}},
		{Name: DepImage, URI: "oci://reg.example/app@sha256:" + strings.Repeat("2", 64), Digest: map[string]string{"sha256": strings.Repeat("2", 64)}, Annotations: map[string]string{"platform": "linux/arm64/v8"}},
	}
	if diff := cmp.Diff(want, p.BuildDefinition.ResolvedDependencies); diff != "" {
		t.Errorf("resolvedDependencies (-want +got):\n%s", diff)
	}
	wantExt := ExternalParameters{Source: src, BuilderImage: "reg.example/builder:1", Buildpacks: []string{"kiln/go"}}
	if diff := cmp.Diff(wantExt, p.BuildDefinition.ExternalParameters); diff != "" {
		t.Errorf("externalParameters (-want +got):\n%s", diff)
	}
	if p.BuildDefinition.InternalParameters == nil || p.RunDetails.Builder.ID != BuilderIDPrefix+"1.0.0" {
		t.Errorf("internalParameters %+v, builder %+v", p.BuildDefinition.InternalParameters, p.RunDetails.Builder)
	}
	body, _ := p.JSON()
	if _, err := Decode(body); err != nil {
		t.Errorf("the index provenance does not decode: %v", err)
	}
}

// TestRebasedIndex: a rebased index keeps the build's parameters and
// builder and names the new images; without an old provenance it records
// only the rebase.
func TestRebasedIndex(t *testing.T) {
	old, err := NewIndex(context.Background(), Build{BuilderRef: "reg.example/builder:1", SourceDir: t.TempDir()}, imageRefs(t, "1", "2"))
	if err != nil {
		t.Fatal(err)
	}
	from, _ := name.NewDigest("reg.example/app@sha256:" + strings.Repeat("d", 64))
	for _, tc := range []struct {
		name        string
		old         *Predicate
		wantBuilder string
	}{
		{"with the build's provenance", old, "reg.example/builder:1"},
		{"without", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := RebasedIndex(tc.old, from, imageRefs(t, "3", "4"), "1.0.0", time.Now(), time.Now())
			if p.BuildDefinition.ExternalParameters.RebasedFrom != from.String() || p.BuildDefinition.ExternalParameters.BuilderImage != tc.wantBuilder {
				t.Errorf("externalParameters %+v", p.BuildDefinition.ExternalParameters)
			}
			var got []string
			for _, d := range p.BuildDefinition.ResolvedDependencies {
				got = append(got, d.Name+" "+d.Digest["sha256"])
			}
			want := []string{"image " + strings.Repeat("3", 64), "image " + strings.Repeat("4", 64)}
			if tc.old != nil {
				want = append([]string{"builder "}, want...)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("resolvedDependencies (-want +got):\n%s", diff)
			}
			if tc.old != nil && p.RunDetails.Metadata.InvocationID == old.RunDetails.Metadata.InvocationID {
				t.Error("the rebase reuses the build's invocation id")
			}
		})
	}
}
