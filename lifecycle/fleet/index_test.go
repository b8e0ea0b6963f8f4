package fleet

import (
	"context"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/kiln-build/kiln/internal/testutil"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// withArch is img with its config's architecture set.
func withArch(t *testing.T, img v1.Image, arch string) v1.Image {
	t.Helper()
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.Architecture = arch
	out, err := mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// appOn is an app image on run (pushed as runRepo@digest): one app
// layer and the lifecycle label.
func appOn(t *testing.T, run v1.Image, runTag, runRepo string) v1.Image {
	t.Helper()
	appLayers, err := testutil.RandomImage(t, 300, 1).Layers()
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(run, appLayers...)
	if err != nil {
		t.Fatal(err)
	}
	rcfg, _ := run.ConfigFile()
	appDiff, _ := appLayers[0].DiffID()
	lc, err := labels.Encode(labels.Lifecycle{
		App: []labels.LayerSHA{{SHA: appDiff.String()}},
		RunImage: labels.RunImage{Image: runTag, TopLayer: rcfg.RootFS.DiffIDs[len(rcfg.RootFS.DiffIDs)-1].String(),
			Reference: runRepo + "@" + digestOf(t, run)},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := img.ConfigFile()
	cfg = cfg.DeepCopy()
	cfg.Config.Labels[labels.LifecycleMetadata] = lc
	out, err := mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func platformIndex(t *testing.T, amd, arm v1.Image) v1.ImageIndex {
	t.Helper()
	idx, err := imageio.NewIndex([]imageio.PlatformImage{
		{Platform: v1.Platform{OS: "linux", Architecture: "amd64"}, Image: amd},
		{Platform: v1.Platform{OS: "linux", Architecture: "arm64"}, Image: arm},
	})
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

// TestRebaseIndex: an app index on a multi-platform run image moves, each
// image onto the patched run image of its platform, in one new index,
// which the Resigner is asked to sign.
func TestRebaseIndex(t *testing.T) {
	reg := testutil.NewRegistry(t)
	h := reg.Host
	runTag, runRepo, app := h+"/base/multi:latest", h+"/base/multi", h+"/apps/multi:latest"
	runAmd, runArm := runBase(t, "12"), withArch(t, runBase(t, "12"), "arm64")
	pushIndex(t, runTag, platformIndex(t, runAmd, runArm))
	pushIndex(t, app, platformIndex(t, appOn(t, runAmd, runTag, runRepo), appOn(t, runArm, runTag, runRepo)))
	newAmd, newArm := patched(t, runAmd, nil), withArch(t, patched(t, runArm, nil), "arm64")
	pushIndex(t, runTag, platformIndex(t, newAmd, newArm))

	signer := &fakeResigner{ch: make(chan string, 2)}
	s, err := New(newIO(), WithResigner(signer)).Rebase(context.Background(), []string{app}, RebaseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := s.Results[0]
	if r.Outcome != Rebased {
		t.Fatalf("outcome %s %q, want rebased", r.Outcome, r.Reason)
	}
	// The new index is signed (the Resigner signs its images too).
	if got, want := <-signer.ch, h+"/apps/multi@"+r.NewDigest; got != want || len(signer.ch) != 0 {
		t.Errorf("resigned %s (and %d more), want the new index %s", got, len(signer.ch), want)
	}
	idx, _, err := newIO().OpenIndex(context.Background(), imageio.Location{Kind: imageio.Registry, Name: app}, false)
	if err != nil || idx == nil {
		t.Fatalf("reading the rebased index: %v", err)
	}
	pis, err := imageio.IndexImages(idx)
	if err != nil || len(pis) != 2 {
		t.Fatalf("rebased index: %d images, %v", len(pis), err)
	}
	for i, want := range []v1.Image{newAmd, newArm} {
		cfg, _ := pis[i].Image.ConfigFile()
		var md labels.Lifecycle
		if _, err := labels.Decode(cfg, labels.LifecycleMetadata, &md); err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(md.RunImage.Reference, "@"+digestOf(t, want)) || cfg.Architecture != pis[i].Platform.Architecture {
			t.Errorf("%s image: on %s (arch %s), want the patched run image %s", pis[i].Platform.Architecture, md.RunImage.Reference, cfg.Architecture, digestOf(t, want))
		}
	}
}
