package rebase

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/internal/testutil"
	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// TestRunRegistry: rebasing in a registry onto the recorded run image's
// new digest reads no layer and uploads only the new config.
func TestRunRegistry(t *testing.T) {
	reg := testutil.NewRegistry(t)
	iio := newIO(t)
	runRef := reg.Host + "/stack/run:latest"
	appRef := reg.Host + "/team/app:latest"
	old := makeBase(t, defaultBase())
	push(t, iio, runRef, old)
	oldDigest := digestOf(t, old)
	app := makeApp(t, old, labels.RunImage{Image: runRef, Reference: reg.Host + "/stack/run@" + oldDigest.String()})
	push(t, iio, appRef, app)
	spec := defaultBase()
	spec.layers = 3
	patched := makeBase(t, spec)
	push(t, iio, runRef, patched) // the tag moves on
	reg.Reset()

	var log bytes.Buffer
	res, err := Run(t.Context(), iio, RunOptions{Image: appRef, Publish: true, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	gets, uploads := reg.Seen()
	layers := map[string]bool{}
	for _, img := range []v1.Image{old, patched, app} {
		for _, d := range layerDigests(t, img) {
			layers[d] = true
		}
	}
	for _, g := range gets {
		if layers[g] {
			t.Errorf("layer blob %s was downloaded", g)
		}
	}
	cfgName, err := res.Image.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{cfgName.String()}, uploads); d != "" {
		t.Errorf("blob uploads (-want only the config +got):\n%s", d)
	}

	pushed, err := iio.Remote(t.Context(), appRef)
	if err != nil {
		t.Fatal(err)
	}
	if got := digestOf(t, pushed); got != res.Digest {
		t.Errorf("registry has %s, Run reported %s", got, res.Digest)
	}
	want := append(layerDigests(t, patched), layerDigests(t, app)[2:]...)
	if d := cmp.Diff(want, layerDigests(t, pushed)); d != "" {
		t.Errorf("pushed layers (-want +got):\n%s", d)
	}
	newDigest := digestOf(t, patched)
	if res.OldRunDigest != oldDigest.String() || res.NewRunDigest != newDigest {
		t.Errorf("run digests %s -> %s, want %s -> %s", res.OldRunDigest, res.NewRunDigest, oldDigest, newDigest)
	}
	md := lifecycleOf(t, pushed)
	if md.RunImage.Reference != reg.Host+"/stack/run@"+newDigest.String() || md.RunImage.Image != runRef {
		t.Errorf("runImage %+v", md.RunImage)
	}
	if res.Output != (imageio.Location{Kind: imageio.Registry, Name: appRef}) {
		t.Errorf("output %+v", res.Output)
	}
	if !strings.Contains(log.String(), runRef) {
		t.Errorf("log does not name the run image:\n%s", log.String())
	}
}

// TestRunMirrors: without --run-image, the recorded image and its mirrors
// on the app's registry are tried first, in order, and the first readable
// one is used; the label keeps the recorded names.
func TestRunMirrors(t *testing.T) {
	reg := testutil.NewRegistry(t)
	iio := newIO(t)
	appRef := reg.Host + "/team/app:latest"
	base := makeBase(t, defaultBase())
	ri := labels.RunImage{
		Image:   "127.0.0.1:1/stack/run:latest",
		Mirrors: []string{reg.Host + "/stack/missing:latest", reg.Host + "/mirror/run:latest"},
	}
	push(t, iio, appRef, makeApp(t, base, ri))
	patched := makeBase(t, defaultBase())
	push(t, iio, reg.Host+"/mirror/run:latest", patched)

	var log bytes.Buffer
	res, err := Run(t.Context(), iio, RunOptions{Image: appRef, Publish: true, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	if res.RunImageName != reg.Host+"/mirror/run:latest" {
		t.Errorf("used %s, want the mirror on the app's registry", res.RunImageName)
	}
	if !strings.Contains(log.String(), reg.Host+"/stack/missing:latest is not readable") {
		t.Errorf("log does not mention the unreadable mirror:\n%s", log.String())
	}
	md := lifecycleOf(t, res.Image)
	if md.RunImage.Image != ri.Image || !cmp.Equal(md.RunImage.Mirrors, ri.Mirrors) {
		t.Errorf("recorded names changed: %+v", md.RunImage)
	}
	if md.RunImage.Reference != reg.Host+"/mirror/run@"+digestOf(t, patched).String() {
		t.Errorf("reference %s", md.RunImage.Reference)
	}
}

func TestCandidates(t *testing.T) {
	ri := labels.RunImage{Image: "a.example/run:1", Mirrors: []string{"b.example/run:1", "a.example/mirror:1", "a.example/run:1", "ubuntu"}}
	for _, tc := range []struct {
		app  string
		want []string
	}{
		{"a.example/team/app", []string{"a.example/run:1", "a.example/mirror:1", "b.example/run:1", "ubuntu"}},
		{"b.example/team/app:v1", []string{"b.example/run:1", "a.example/run:1", "a.example/mirror:1", "ubuntu"}},
		{"myapp", []string{"ubuntu", "a.example/run:1", "b.example/run:1", "a.example/mirror:1"}},
	} {
		if d := cmp.Diff(tc.want, Candidates(ri, tc.app)); d != "" {
			t.Errorf("Candidates for %s (-want +got):\n%s", tc.app, d)
		}
	}
	if got := Candidates(labels.RunImage{}, "x"); len(got) != 0 {
		t.Errorf("Candidates with nothing recorded = %v", got)
	}
}

// TestRunStore: the app in the local store is replaced; the run image is
// read from the store when there, else from its registry.
func TestRunStore(t *testing.T) {
	reg := testutil.NewRegistry(t)
	iio := newIO(t)
	runRef := reg.Host + "/stack/run:latest"
	old := makeBase(t, defaultBase())
	app := makeApp(t, old, labels.RunImage{Image: runRef})
	if err := iio.Store().Put(t.Context(), "local/app", app); err != nil {
		t.Fatal(err)
	}
	patched := makeBase(t, defaultBase())
	push(t, iio, runRef, patched)

	res, err := Run(t.Context(), iio, RunOptions{Image: "local/app"})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := iio.Store().Image("local/app")
	if err != nil {
		t.Fatal(err)
	}
	if got := digestOf(t, stored); got != res.Digest {
		t.Errorf("store has %s, Run reported %s", got, res.Digest)
	}
	if d := cmp.Diff(append(layerDigests(t, patched), layerDigests(t, app)[2:]...), layerDigests(t, stored)); d != "" {
		t.Errorf("stored layers (-want +got):\n%s", d)
	}
	// The stored image is whole: its new run image layers were fetched.
	if _, err := stored.Layers(); err != nil {
		t.Fatal(err)
	}
	if l, err := stored.LayerByDigest(mustHash(t, layerDigests(t, patched)[0])); err != nil {
		t.Fatal(err)
	} else if rc, err := l.Compressed(); err != nil {
		t.Errorf("new run image layer missing from the store: %v", err)
	} else {
		rc.Close()
	}

	// A run image only in the store, named by the user: another tag of the
	// recorded repository.
	local := makeBase(t, defaultBase())
	if err := iio.Store().Put(t.Context(), reg.Host+"/stack/run:local", local); err != nil {
		t.Fatal(err)
	}
	res, err = Run(t.Context(), iio, RunOptions{Image: "local/app", RunImage: reg.Host + "/stack/run:local"})
	if err != nil {
		t.Fatal(err)
	}
	if res.NewRunDigest != digestOf(t, local) {
		t.Errorf("new run image %s, want the stored one %s", res.NewRunDigest, digestOf(t, local))
	}
}

// TestRunOutput: --output writes elsewhere and leaves the source alone.
func TestRunOutput(t *testing.T) {
	reg := testutil.NewRegistry(t)
	iio := newIO(t)
	runRef := reg.Host + "/stack/run:latest"
	appRef := reg.Host + "/team/app:latest"
	app := makeApp(t, makeBase(t, defaultBase()), labels.RunImage{Image: runRef})
	push(t, iio, appRef, app)
	push(t, iio, runRef, makeBase(t, defaultBase()))
	dir := filepath.Join(t.TempDir(), "out")
	res, err := Run(t.Context(), iio, RunOptions{Image: appRef, Publish: true, Output: &imageio.Location{Kind: imageio.Layout, Path: dir}})
	if err != nil {
		t.Fatal(err)
	}
	written, err := iio.Open(t.Context(), imageio.Location{Kind: imageio.Layout, Path: dir, Name: appRef}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := digestOf(t, written); got != res.Digest {
		t.Errorf("layout has %s, Run reported %s", got, res.Digest)
	}
	still, err := iio.Remote(t.Context(), appRef)
	if err != nil {
		t.Fatal(err)
	}
	if digestOf(t, still) != digestOf(t, app) {
		t.Error("the registry image changed though --output was given")
	}

	// A run image from an OCI layout is outside the recorded lineage; once
	// forced, it is recorded by its location and image ID.
	runDir := filepath.Join(t.TempDir(), "run")
	layoutRun := makeBase(t, defaultBase())
	if err := iio.Write(t.Context(), imageio.Location{Kind: imageio.Layout, Path: runDir}, layoutRun); err != nil {
		t.Fatal(err)
	}
	o := RunOptions{Image: appRef, Publish: true, RunImage: "oci:" + runDir, Output: &imageio.Location{Kind: imageio.Layout, Path: filepath.Join(t.TempDir(), "out2")}}
	if _, err := Run(t.Context(), iio, o); failure.Code(err) != failure.RebaseRefused {
		t.Errorf("layout run image without --force: %v, want a refusal", err)
	}
	o.Force = true
	res, err = Run(t.Context(), iio, o)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := layoutRun.ConfigName()
	if want := (labels.RunImage{Image: "oci:" + runDir, Reference: id.String(), TopLayer: res.New.TopLayer}); !cmp.Equal(want, res.New) {
		t.Errorf("runImage %+v, want %+v", res.New, want)
	}
}

// TestRunFailures: each failure has its exit code and names what failed.
func TestRunFailures(t *testing.T) {
	reg := testutil.NewRegistry(t)
	iio := newIO(t)
	runRef := reg.Host + "/stack/run:latest"
	base := makeBase(t, defaultBase())
	push(t, iio, runRef, base)
	ns := defaultBase()
	ns.distroVersion = "13"
	push(t, iio, reg.Host+"/stack/run:13", makeBase(t, ns))
	push(t, iio, reg.Host+"/team/app:latest", makeApp(t, base, labels.RunImage{Image: runRef}))
	push(t, iio, reg.Host+"/team/lost:latest", makeApp(t, base, labels.RunImage{Image: reg.Host + "/stack/gone:latest"}))
	push(t, iio, reg.Host+"/team/plain:latest", base)

	for _, tc := range []struct {
		name     string
		o        RunOptions
		wantCode int
		wantMsg  []string
	}{
		{"not in the store", RunOptions{Image: reg.Host + "/team/app"}, failure.RebaseError, []string{reg.Host + "/team/app:latest", "--publish"}},
		{"not an app image", RunOptions{Image: reg.Host + "/team/plain", Publish: true}, failure.RebaseNotAppImage, []string{reg.Host + "/team/plain:latest", "io.buildpacks.lifecycle.metadata"}},
		{"run image gone", RunOptions{Image: reg.Host + "/team/lost", Publish: true}, failure.RebaseRunImage, []string{reg.Host + "/stack/gone:latest"}},
		{"named run image missing", RunOptions{Image: reg.Host + "/team/app", Publish: true, RunImage: reg.Host + "/stack/run:nope"}, failure.RebaseRunImage, []string{reg.Host + "/stack/run:nope"}},
		{"distro differs", RunOptions{Image: reg.Host + "/team/app", Publish: true, RunImage: reg.Host + "/stack/run:13"}, failure.RebaseRefused, []string{`io.buildpacks.base.distro.version "13", was "12"`, "--force"}},
		{"bad name", RunOptions{Image: "Bad Name"}, failure.InvalidInput, []string{"Bad Name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(t.Context(), iio, tc.o)
			if got := failure.Code(err); got != tc.wantCode {
				t.Errorf("exit code %d, want %d (error %v)", got, tc.wantCode, err)
			}
			for _, w := range tc.wantMsg {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v lacks %q", err, w)
				}
			}
		})
	}
	// Nothing was written by the refused rebase.
	img, err := iio.Remote(t.Context(), reg.Host+"/team/app:latest")
	if err != nil {
		t.Fatal(err)
	}
	if md := lifecycleOf(t, img); !strings.HasPrefix(md.RunImage.Reference, "sha256:") {
		t.Errorf("app image was changed by a failed rebase: %+v", md.RunImage)
	}
	// --force lets the refused one through.
	res, err := Run(t.Context(), iio, RunOptions{Image: reg.Host + "/team/app", Publish: true, RunImage: reg.Host + "/stack/run:13", Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if v := configOf(t, res.Image).Config.Labels[labels.BaseDistroVersion]; v != "13" {
		t.Errorf("forced rebase distro.version %q, want 13", v)
	}
}

func mustHash(t *testing.T, s string) v1.Hash {
	t.Helper()
	h, err := v1.NewHash(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// BenchmarkRunPublish rebases apps of different sizes in a registry: the
// time does not depend on the app's size, since no layer moves.
func BenchmarkRunPublish(b *testing.B) {
	for _, size := range []int64{1 << 10, 32 << 20} {
		b.Run(fmt.Sprintf("app=%dKiB", size>>10), func(b *testing.B) {
			reg := testutil.NewRegistry(b)
			iio := newIO(b)
			runRef := reg.Host + "/stack/run:latest"
			appRef := reg.Host + "/team/app:latest"
			base := makeBase(b, defaultBase())
			push(b, iio, runRef, base)
			push(b, iio, appRef, makeAppSized(b, base, labels.RunImage{Image: runRef}, size))
			b.ResetTimer()
			for range b.N {
				if _, err := Run(b.Context(), iio, RunOptions{Image: appRef, Publish: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestRunStoreOnlyName: a recorded run image whose name names no registry
// is a local-store name: it is read from the store only, never from
// Docker Hub, and an app in a registry cannot be rebased onto it; the
// error lists what was tried and points at --run-image.
func TestRunStoreOnlyName(t *testing.T) {
	reg := testutil.NewRegistry(t)
	iio := newIO(t)
	const storeRun = "kiln/debian-bookworm-run:latest"
	base := makeBase(t, defaultBase())
	app := makeApp(t, base, labels.RunImage{Image: storeRun, Reference: "index.docker.io/kiln/debian-bookworm-run@" + digestOf(t, base).String()})
	appRef := reg.Host + "/team/app:latest"
	push(t, iio, appRef, app)
	if err := iio.Store().Put(t.Context(), "local/app", app); err != nil {
		t.Fatal(err)
	}
	for _, o := range []RunOptions{{Image: appRef, Publish: true}, {Image: "local/app"}} {
		_, err := Run(t.Context(), iio, o)
		if got := failure.Code(err); got != failure.RebaseRunImage {
			t.Errorf("%s: exit code %d, want %d (error %v)", o.Image, got, failure.RebaseRunImage, err)
		}
		for _, w := range []string{storeRun, "tried", "--run-image", "names no registry"} {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %v lacks %q", o.Image, err, w)
			}
		}
		if err != nil && (strings.Contains(err.Error(), "docker.io") || strings.Contains(err.Error(), "pulling")) {
			t.Errorf("%s: error %v shows a registry was asked", o.Image, err)
		}
	}
	// Once in the store, a local app is rebased onto it.
	patched := makeBase(t, defaultBase())
	if err := iio.Store().Put(t.Context(), storeRun, patched); err != nil {
		t.Fatal(err)
	}
	res, err := Run(t.Context(), iio, RunOptions{Image: "local/app"})
	if err != nil {
		t.Fatal(err)
	}
	if res.NewRunDigest != digestOf(t, patched) {
		t.Errorf("new run image %s, want %s", res.NewRunDigest, digestOf(t, patched))
	}
}
