package imageio

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// rawManifest is a manifest put as is, whatever it declares.
type rawManifest struct{ b []byte }

func (r rawManifest) RawManifest() ([]byte, error)        { return r.b, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// A registry's manifest that declares a huge config, or thousands of
// layers, is refused before anything of it is fetched.
func TestRemoteRefusesUnboundedManifests(t *testing.T) {
	ctx := context.Background()
	host := serveRegistry(t, noWrap)
	img, err := random.Image(100, 1)
	if err != nil {
		t.Fatal(err)
	}
	iio := New(nil)
	good := host + "/team/app:good"
	if err := iio.Write(ctx, Location{Kind: Registry, Name: good}, img); err != nil {
		t.Fatal(err)
	}
	if _, err := iio.Remote(ctx, good); err != nil {
		t.Fatalf("a plain image: %v", err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(m *v1.Manifest)
		want   string
	}{
		{"huge config", func(m *v1.Manifest) { m.Config.Size = 1 << 40 }, "config"},
		{"many layers", func(m *v1.Manifest) {
			for len(m.Layers) <= MaxLayers {
				m.Layers = append(m.Layers, m.Layers[0])
			}
		}, "layers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := *m.DeepCopy()
			bad.MediaType = types.OCIManifestSchema1
			tc.mutate(&bad)
			b, err := json.Marshal(bad)
			if err != nil {
				t.Fatal(err)
			}
			ref := host + "/team/app:" + strings.ReplaceAll(tc.name, " ", "-")
			r, err := name.ParseReference(ref)
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.Put(r, rawManifest{b}); err != nil {
				t.Fatal(err)
			}
			_, err = iio.Remote(ctx, ref)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), ref) {
				t.Errorf("Remote(%s) err = %v, want one naming it and its %s", ref, err, tc.want)
			}
			_, err = iio.Open(ctx, Location{Kind: Registry, Name: ref}, true)
			if err == nil {
				t.Errorf("Open(%s) accepted the manifest", ref)
			}
		})
	}
}
