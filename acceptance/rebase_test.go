//go:build acceptance

package acceptance

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// patchedRunImage is base plus one small layer holding /etc/kiln-patch,
// with extra labels set.
func patchedRunImage(t testing.TB, base v1.Image, content string, extra map[string]string) v1.Image {
	t.Helper()
	ctx := context.Background()
	tr := archive.NewTar()
	root := archive.Owner{}
	for _, e := range []archive.Entry{
		archive.Dir("etc", 0o755, root),
		archive.File("etc/kiln-patch", 0o644, root, []byte(content)),
	} {
		if err := tr.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	l, err := archive.NewLayer(ctx, tr, archive.WithMediaType(types.OCILayer), archive.WithTempDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:     l,
		MediaType: types.OCILayer,
		History:   v1.History{Created: v1.Time{Time: archive.DefaultModTime}, CreatedBy: "kiln acceptance: security patch"},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	for k, v := range extra {
		cfg.Config.Labels[k] = v
	}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	return img
}

func pushImage(t testing.TB, ref string, img v1.Image) {
	t.Helper()
	if err := imageio.New(nil, imageio.WithKeychain(authn.NewMultiKeychain())).Write(context.Background(), imageio.Location{Kind: imageio.Registry, Name: ref}, img); err != nil {
		t.Fatal(err)
	}
}

func lines(out, with string) []string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, with) {
			keep = append(keep, strings.TrimSpace(l))
		}
	}
	return keep
}

// TestRebase builds and publishes the app, then rebases it onto a patched
// run image in the same registry: incompatible or foreign run images are
// refused, the compatible one moves no layer blob, and the rebased app
// runs on the patched base with its own behaviour unchanged.
func TestRebase(t *testing.T) {
	ref := env.reg.Host + "/kiln-test/rebase-app:latest"
	built := builtDigest(t, mustKiln(t, "build", ref, "--builder", env.builder, "--path", appSource(t), "--publish"))
	before := pull(t, ref)
	beforeOut := lines(mustKiln(t, "run", ref), "app says:")
	if len(beforeOut) == 0 {
		t.Fatal("the app printed nothing before the rebase")
	}

	patched := patchedRunImage(t, env.runImg, "patched\n", nil)
	patchedRef := env.reg.Host + "/kiln-test/run:patched"
	pushImage(t, patchedRef, patched)
	otherDistro := patchedRunImage(t, env.runImg, "other distro\n", map[string]string{labels.BaseDistroVersion: "99"})
	otherRef := env.reg.Host + "/kiln-test/run:other-distro"
	pushImage(t, otherRef, otherDistro)
	elsewhereRef := env.reg.Host + "/kiln-test/elsewhere:latest"
	pushImage(t, elsewhereRef, patched)

	// Refusals: one clear error each, exit 71, nothing written.
	r := kiln(t, "rebase", ref, "--publish", "--run-image", otherRef)
	if r.code != 71 {
		t.Errorf("rebase onto another distro version: exit %d, want 71", r.code)
	}
	wantContains(t, r.out, `io.buildpacks.base.distro.version "99"`, "--force")
	r = kiln(t, "rebase", ref, "--publish", "--run-image", elsewhereRef)
	if r.code != 71 {
		t.Errorf("rebase onto a foreign run image: exit %d, want 71", r.code)
	}
	wantContains(t, r.out, elsewhereRef, "neither the app's recorded run image "+env.runImage, "--force")
	if d, _ := pull(t, ref).Digest(); d.String() != built {
		t.Fatalf("a refused rebase changed the image: %s -> %s", built, d)
	}

	// The compatible rebase moves the config and manifest only.
	uploads := env.reg.Uploads()
	out := mustKiln(t, "rebase", ref, "--publish", "--run-image", patchedRef)
	if n := env.reg.Uploads() - uploads; n != 1 {
		t.Errorf("the rebase uploaded %d blobs, want 1 (the config; no layer)", n)
	}
	oldRun, _ := env.runImg.Digest()
	newRun, _ := patched.Digest()
	wantContains(t, out, oldRun.String(), newRun.String())
	digest := builtDigest(t, out)
	after := pull(t, ref)
	if d, _ := after.Digest(); d.String() != digest || digest == built {
		t.Errorf("registry has %s, kiln printed %s (built %s)", d, digest, built)
	}

	// Run image layers swapped, the app's byte-identical.
	manifestLayers := func(img v1.Image) []string {
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, l := range m.Layers {
			out = append(out, l.Digest.String())
		}
		return out
	}
	runN := len(manifestLayers(env.runImg))
	want := append(manifestLayers(patched), manifestLayers(before)[runN:]...)
	if d := cmp.Diff(want, manifestLayers(after)); d != "" {
		t.Errorf("rebased layers (-want +got):\n%s", d)
	}
	cfg, err := after.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	var md labels.Lifecycle
	if ok, err := labels.Decode(cfg, labels.LifecycleMetadata, &md); !ok || err != nil {
		t.Fatalf("lifecycle label: %v %v", ok, err)
	}
	pcfg, _ := patched.ConfigFile()
	top := pcfg.RootFS.DiffIDs[len(pcfg.RootFS.DiffIDs)-1]
	if md.RunImage.TopLayer != top.String() || md.RunImage.Reference != env.reg.Host+"/kiln-test/run@"+newRun.String() || md.RunImage.Image != env.runImage {
		t.Errorf("runImage %+v; want topLayer %s, reference to %s and the recorded image %s", md.RunImage, top, newRun, env.runImage)
	}
	bcfg, _ := before.ConfigFile()
	if d := cmp.Diff(bcfg.Config.Entrypoint, cfg.Config.Entrypoint); d != "" || cfg.Config.WorkingDir != bcfg.Config.WorkingDir || cfg.Config.Labels["org.example.app"] != "kiln-test" {
		t.Errorf("the app's own config changed: entrypoint %v, working dir %q, labels %v", cfg.Config.Entrypoint, cfg.Config.WorkingDir, cfg.Config.Labels)
	}

	// It runs on the patched base, and the app behaves as before.
	out = mustKiln(t, "run", "--entrypoint", "/cnb/lifecycle/launcher", ref, "--", "cat", "/etc/kiln-patch")
	wantContains(t, out, "patched")
	if d := cmp.Diff(beforeOut, lines(mustKiln(t, "run", ref), "app says:")); d != "" {
		t.Errorf("app output changed by the rebase (-before +after):\n%s", d)
	}

	// --force overrides the distro refusal and takes the new target data.
	out = mustKiln(t, "rebase", ref, "--publish", "--run-image", otherRef, "--force")
	wantContains(t, out, "warning: --force", "io.buildpacks.base.distro.version")
	cfg, err = pull(t, ref).ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if v := cfg.Config.Labels[labels.BaseDistroVersion]; v != "99" {
		t.Errorf("forced rebase: distro.version %q, want 99", v)
	}
}
