package fleet

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kiln-build/kiln/internal/testutil"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

func newIO() *imageio.IO {
	return imageio.New(nil, imageio.WithKeychain(authn.NewMultiKeychain()))
}

func push(t testing.TB, ref string, img v1.Image) {
	t.Helper()
	if err := newIO().Write(context.Background(), imageio.Location{Kind: imageio.Registry, Name: ref}, img); err != nil {
		t.Fatal(err)
	}
}

func pull(t testing.TB, ref string) v1.Image {
	t.Helper()
	img, err := newIO().Remote(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func digestOf(t testing.TB, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// withLabels returns img with labels added to its config.
func withLabels(t testing.TB, img v1.Image, add map[string]string) v1.Image {
	t.Helper()
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	if cfg.Config.Labels == nil {
		cfg.Config.Labels = map[string]string{}
	}
	for k, v := range add {
		cfg.Config.Labels[k] = v
	}
	out, err := mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// runBase is a run image of two random layers with the distro labels.
func runBase(t testing.TB, distroVersion string) v1.Image {
	t.Helper()
	return withLabels(t, testutil.RandomImage(t, 256, 2), map[string]string{
		labels.BaseDistroName: "debian", labels.BaseDistroVersion: distroVersion,
	})
}

// patched is run plus one more random layer, with extra labels.
func patched(t testing.TB, run v1.Image, extra map[string]string) v1.Image {
	t.Helper()
	l := testutil.RandomImage(t, 128, 1)
	ls, err := l.Layers()
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(run, ls...)
	if err != nil {
		t.Fatal(err)
	}
	return withLabels(t, img, extra)
}

// pushApp pushes an app image to ref: the run image pushed at runRef
// plus one app layer, with the lifecycle label a rebase needs and a
// buildpack in the build label.
func pushApp(t testing.TB, ref, runRef string) v1.Image {
	t.Helper()
	run := pull(t, runRef)
	appLayers, err := testutil.RandomImage(t, 300, 1).Layers()
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(run, appLayers...)
	if err != nil {
		t.Fatal(err)
	}
	rcfg, err := run.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	appDiff, err := appLayers[0].DiffID()
	if err != nil {
		t.Fatal(err)
	}
	repo := runRef[:strings.LastIndex(runRef, ":")]
	lc, err := labels.Encode(labels.Lifecycle{
		App: []labels.LayerSHA{{SHA: appDiff.String()}},
		RunImage: labels.RunImage{
			Image:     runRef,
			TopLayer:  rcfg.RootFS.DiffIDs[len(rcfg.RootFS.DiffIDs)-1].String(),
			Reference: repo + "@" + digestOf(t, run),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	build, err := labels.Encode(labels.Build{Buildpacks: []labels.BuildpackRef{{ID: "example/go", Version: "1.2.3"}}})
	if err != nil {
		t.Fatal(err)
	}
	img = withLabels(t, img, map[string]string{labels.LifecycleMetadata: lc, labels.BuildMetadata: build, BuilderLabel: "example/builder:1"})
	push(t, ref, img)
	return pull(t, ref)
}

// fakeResigner records the digests it was asked to sign.
type fakeResigner struct {
	ch  chan string
	err error
}

func (f *fakeResigner) Resign(_ context.Context, from, d name.Digest) error {
	if from.DigestStr() == d.DigestStr() || from.Context() != d.Context() {
		return fmt.Errorf("resign from %s to %s: not a move within one repository", from, d)
	}
	f.ch <- d.String()
	return f.err
}

func pushIndex(t testing.TB, ref string, idx v1.ImageIndex) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatal(err)
	}
}
