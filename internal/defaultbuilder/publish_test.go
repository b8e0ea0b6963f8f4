package defaultbuilder

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/internal/testutil"
	"github.com/kiln-build/kiln/lifecycle/builder"
	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
)

// Publish pushes the stack's images and a builder whose run.toml names the
// published run image.
func TestPublish(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	writeBuildpack(t, root, "static")
	t.Setenv("KILN_BUILDPACKS", root)
	store, err := imageio.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	bps, err := FindBuildpacks(nil, "")
	if err != nil {
		t.Fatal(err)
	}
	r := testutil.NewRegistry(t)
	iio := imageio.New(store, imageio.WithKeychain(authn.NewMultiKeychain()))
	reg := RegistryFunc(func(ctx context.Context, ref string, img v1.Image) error {
		return iio.Write(ctx, imageio.Location{Kind: imageio.Registry, Name: ref}, img)
	})
	pulled := func(ref string) v1.Image {
		t.Helper()
		img, err := iio.Remote(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	o := Options{Store: store, Buildpacks: bps, BuildStack: (&fakeStack{t: t}).build, WorkDir: t.TempDir(), Version: "test"}
	p, err := Publish(ctx, o, r.Host+"/team/kiln/", reg)
	if err != nil {
		t.Fatal(err)
	}
	want := Published{Build: r.Host + "/team/kiln/build:latest", Run: r.Host + "/team/kiln/run:latest", Builder: r.Host + "/team/kiln/builder:latest"}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("published (-want +got):\n%s", diff)
	}
	for ref, local := range map[string]string{p.Build: "kiln/debian-bookworm-build:latest", p.Run: "kiln/debian-bookworm-run:latest"} {
		s, err := store.Image(local)
		if err != nil {
			t.Fatal(err)
		}
		if mustDigest(t, pulled(ref)) != mustDigest(t, s) {
			t.Errorf("%s is not the store's %s", ref, local)
		}
	}
	b, err := builder.Open(ctx, pulled(p.Builder), filepath.Join(t.TempDir(), "rootfs"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Run.Images) != 1 || b.Run.Images[0].Image != p.Run {
		t.Errorf("published builder's run images %+v, want %s", b.Run.Images, p.Run)
	}
	if _, err := os.Stat(filepath.Join(b.BuildpacksDir(), "kiln_static")); err != nil {
		t.Errorf("published builder lacks the buildpack: %v", err)
	}

	for _, bad := range []string{"kiln", "Bad Prefix/x"} {
		if _, err := Publish(ctx, o, bad, reg); failure.Code(err) != failure.InvalidInput || !strings.Contains(err.Error(), "prefix") {
			t.Errorf("Publish(%q): %v, want an invalid-input error about the prefix", bad, err)
		}
	}
}
