package fleet

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/internal/testutil"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// world is a registry with apps under host/apps on two run images, a
// plain image among them, and an app outside the prefix.
type world struct {
	reg             *testutil.Registry
	prefix          Prefix
	run, other      string // run image tags
	apps            map[string]v1.Image
	newRun, newOthr v1.Image
}

func newWorld(t *testing.T) *world {
	t.Helper()
	reg := testutil.NewRegistry(t)
	h := reg.Host
	w := &world{reg: reg, run: h + "/base/run:latest", other: h + "/base/other:latest", apps: map[string]v1.Image{}}
	push(t, w.run, runBase(t, "12"))
	push(t, w.other, runBase(t, "12"))
	for _, a := range []string{"apps/a:latest", "apps/b:latest", "apps/team/c:v1"} {
		w.apps[h+"/"+a] = pushApp(t, h+"/"+a, w.run)
	}
	w.apps[h+"/apps/d:latest"] = pushApp(t, h+"/apps/d:latest", w.other)
	push(t, h+"/apps/plain:latest", testutil.RandomImage(t, 64, 1))
	pushApp(t, h+"/elsewhere/x:latest", w.run)
	var err error
	if w.prefix, err = ParsePrefix(h + "/apps"); err != nil {
		t.Fatal(err)
	}
	return w
}

// publish pushes the patched run images: run's is compatible, other's
// is another distro version.
func (w *world) publish(t *testing.T) {
	t.Helper()
	w.newRun = patched(t, pull(t, w.run), nil)
	push(t, w.run, w.newRun)
	w.newOthr = patched(t, pull(t, w.other), map[string]string{labels.BaseDistroVersion: "13"})
	push(t, w.other, w.newOthr)
}

func (w *world) list(t *testing.T) []string {
	t.Helper()
	refs, err := List(context.Background(), w.prefix, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return refs
}

func outcomes(s *Summary) map[string]Outcome {
	m := map[string]Outcome{}
	for _, r := range s.Results {
		m[r.Ref[strings.Index(r.Ref, "/")+1:]] = r.Outcome
	}
	return m
}

func TestListPrefix(t *testing.T) {
	w := newWorld(t)
	h := w.reg.Host
	want := []string{h + "/apps/a:latest", h + "/apps/b:latest", h + "/apps/d:latest", h + "/apps/plain:latest", h + "/apps/team/c:v1"}
	if d := cmp.Diff(want, w.list(t)); d != "" {
		t.Errorf("List (-want +got):\n%s", d)
	}
	got, err := New(newIO()).List(context.Background(), w.prefix, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Fleet.List (-want +got):\n%s", d)
	}
	_, err = List(context.Background(), w.prefix, Limits{MaxRepositories: 4})
	if err == nil || !strings.Contains(err.Error(), "more than 4 repositories") {
		t.Errorf("List with MaxRepositories 4: %v", err)
	}
	_, err = List(context.Background(), w.prefix, Limits{MaxTags: 2})
	if err == nil || !strings.Contains(err.Error(), "--max-tags") {
		t.Errorf("List with MaxTags 2: %v", err)
	}
}

func TestRebaseFleet(t *testing.T) {
	w := newWorld(t)
	refs := w.list(t)
	w.publish(t)
	ctx := context.Background()
	h := w.reg.Host

	signer := &fakeResigner{ch: make(chan string, 10)}
	w.reg.Reset()
	s, err := New(newIO(), WithResigner(signer), WithConcurrency(3)).Rebase(ctx, refs, RebaseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Outcome{"apps/a:latest": Rebased, "apps/b:latest": Rebased, "apps/team/c:v1": Rebased, "apps/d:latest": Refused, "apps/plain:latest": Skipped}
	if d := cmp.Diff(want, outcomes(s)); d != "" {
		t.Fatalf("outcomes (-want +got):\n%s", d)
	}
	_, uploads := w.reg.Seen()
	var configs, signed []string
	newRunDigest := digestOf(t, w.newRun)
	for _, r := range s.Results {
		switch r.Outcome {
		case Refused:
			if !strings.Contains(r.Reason, `io.buildpacks.base.distro.version "13"`) {
				t.Errorf("refusal reason: %s", r.Reason)
			}
		case Skipped:
			if !strings.Contains(r.Reason, labels.LifecycleMetadata) {
				t.Errorf("skip reason: %s", r.Reason)
			}
		case Rebased:
			img := pull(t, r.Ref)
			if got := digestOf(t, img); got != r.NewDigest {
				t.Errorf("%s: registry has %s, result says %s", r.Ref, got, r.NewDigest)
			}
			m, _ := img.Manifest()
			configs = append(configs, m.Config.Digest.String())
			signed = append(signed, r.Ref[:strings.LastIndex(r.Ref, ":")]+"@"+r.NewDigest)
			if r.LatestRunDigest != newRunDigest || r.RunDigest == newRunDigest {
				t.Errorf("%s: run image %s -> %s, want -> %s", r.Ref, r.RunDigest, r.LatestRunDigest, newRunDigest)
			}
			checkLayers(t, img, w.newRun, w.apps[r.Ref])
		}
	}
	// Only the three configs moved: no layer.
	slices.Sort(configs)
	slices.Sort(uploads)
	if d := cmp.Diff(configs, uploads); d != "" {
		t.Errorf("blobs uploaded (-configs +uploads):\n%s", d)
	}
	close(signer.ch)
	var got []string
	for d := range signer.ch {
		got = append(got, d)
	}
	slices.Sort(got)
	slices.Sort(signed)
	if d := cmp.Diff(signed, got); d != "" {
		t.Errorf("resigned (-want +got):\n%s", d)
	}

	// Again: nothing to do, nothing written.
	w.reg.Reset()
	s, err = New(newIO()).Rebase(ctx, refs, RebaseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want["apps/a:latest"], want["apps/b:latest"], want["apps/team/c:v1"] = Current, Current, Current
	if d := cmp.Diff(want, outcomes(s)); d != "" {
		t.Errorf("second run (-want +got):\n%s", d)
	}
	if _, up := w.reg.Seen(); len(up) != 0 {
		t.Errorf("the second run uploaded %v", up)
	}

	// --force moves the refused one.
	s, err = New(newIO()).Rebase(ctx, []string{h + "/apps/d:latest"}, RebaseOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Results[0]; r.Outcome != Rebased || len(r.Overridden) != 1 {
		t.Errorf("forced: %s %q overridden %v", r.Outcome, r.Reason, r.Overridden)
	}
}

// checkLayers: the rebased image is the new run image's layers and the
// app's own, byte for byte.
func checkLayers(t *testing.T, got, run, app v1.Image) {
	t.Helper()
	digests := func(img v1.Image) []string {
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
	appLayers := digests(app)
	want := append(digests(run), appLayers[len(appLayers)-1])
	if d := cmp.Diff(want, digests(got)); d != "" {
		t.Errorf("rebased layers (-want +got):\n%s", d)
	}
}

func TestRebaseDryRunWritesNothing(t *testing.T) {
	w := newWorld(t)
	refs := w.list(t)
	w.publish(t)
	w.reg.Reset()
	s, err := New(newIO()).Rebase(context.Background(), refs, RebaseOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Count(WouldRebase); n != 3 {
		t.Errorf("dry run: %d would rebase, want 3", n)
	}
	if _, up := w.reg.Seen(); len(up) != 0 {
		t.Errorf("a dry run uploaded %v", up)
	}
	for ref, img := range w.apps {
		if got := digestOf(t, pull(t, ref)); got != digestOf(t, img) {
			t.Errorf("a dry run moved %s", ref)
		}
	}
}

func TestRebaseExplicitRunImage(t *testing.T) {
	w := newWorld(t)
	h := w.reg.Host
	// A patched run image under another tag of the recorded repository:
	// the recorded tag stays where it is.
	fix := patched(t, pull(t, w.run), nil)
	push(t, h+"/base/run:fix", fix)
	push(t, h+"/base/foreign:latest", fix)
	ctx := context.Background()
	refs := []string{h + "/apps/a:latest", h + "/apps/b:latest"}
	s, err := New(newIO()).Rebase(ctx, refs, RebaseOptions{RunImage: h + "/base/foreign:latest"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range s.Results {
		if r.Outcome != Refused || !strings.Contains(r.Reason, "neither the app's recorded run image") {
			t.Errorf("foreign run image: %s %s %q", r.Ref, r.Outcome, r.Reason)
		}
	}
	s, err = New(newIO()).Rebase(ctx, refs, RebaseOptions{RunImage: h + "/base/run:fix"})
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Count(Rebased); n != 2 {
		t.Errorf("rebased %d, want 2: %+v", n, s.Results)
	}
	s, err = New(newIO()).Rebase(ctx, refs, RebaseOptions{RunImage: h + "/base/run:fix"})
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Count(Current); n != 2 {
		t.Errorf("second run: current %d, want 2", n)
	}
}

func TestRebaseTagMovedMeanwhile(t *testing.T) {
	w := newWorld(t)
	w.publish(t)
	h := w.reg.Host
	ref := h + "/apps/a:latest"
	f := New(newIO())
	ctx := context.Background()
	c, err := f.connect()
	if err != nil {
		t.Fatal(err)
	}
	im := f.inspect(ctx, c, ref, "")
	if !im.Outdated {
		t.Fatalf("not outdated: %+v", im)
	}
	// A build pushes a new image after the fleet read the tag.
	pushed := pushApp(t, ref, w.run)
	r := f.rebaseOne(ctx, c, im, RebaseOptions{})
	if r.Outcome != Failed || !strings.Contains(r.Reason, "moved to") {
		t.Errorf("outcome %s %q, want failed: moved", r.Outcome, r.Reason)
	}
	if got := digestOf(t, pull(t, ref)); got != digestOf(t, pushed) {
		t.Errorf("the fleet overwrote a newer push")
	}
}

func TestResignFailureIsAFailure(t *testing.T) {
	w := newWorld(t)
	w.publish(t)
	signer := &fakeResigner{ch: make(chan string, 1), err: errors.New("no key")}
	s, err := New(newIO(), WithResigner(signer)).Rebase(context.Background(), []string{w.reg.Host + "/apps/a:latest"}, RebaseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Results[0]; r.Outcome != Failed || !strings.Contains(r.Reason, "signing it failed: no key") {
		t.Errorf("outcome %s %q", r.Outcome, r.Reason)
	}
}

func TestStatus(t *testing.T) {
	w := newWorld(t)
	h := w.reg.Host
	oldRun := digestOf(t, pull(t, w.run))
	// An index with an arm64 entry only.
	idx, err := random.Index(64, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	arm, _ := idx.Image(im.Manifests[0].Digest)
	idx = mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}})
	pushIndex(t, h+"/apps/multi:latest", idx)

	f := New(newIO())
	st := f.Status(context.Background(), []string{h + "/apps/a:latest", h + "/apps/multi:latest", h + "/apps/plain:latest", h + "/apps/missing:latest"}, "")
	a := st[0]
	if a.RunDigest != oldRun || a.LatestRunDigest != oldRun || a.Outdated || a.Builder != "example/builder:1" || a.Created != nil {
		t.Errorf("current app: %+v", a)
	}
	if d := cmp.Diff([]Buildpack{{ID: "example/go", Version: "1.2.3"}}, a.Buildpacks); d != "" {
		t.Errorf("buildpacks (-want +got):\n%s", d)
	}
	if !strings.Contains(st[1].Skipped, "no linux/") {
		t.Errorf("arm64-only index: %+v", st[1])
	}
	if !strings.Contains(st[2].Skipped, "not a CNB app image") {
		t.Errorf("plain image: %+v", st[2])
	}
	if st[3].Error == "" {
		t.Errorf("missing image: %+v", st[3])
	}
	w.publish(t)
	// A new Fleet sees the new run image; the old one keeps what it read.
	if b := New(newIO()).Status(context.Background(), []string{h + "/apps/b:latest"}, "")[0]; !b.Outdated || b.LatestRunDigest != digestOf(t, w.newRun) {
		t.Errorf("after the update: %+v", b)
	}
}

func TestCancelledRunFillsEveryResult(t *testing.T) {
	w := newWorld(t)
	refs := w.list(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, err := New(newIO()).Rebase(ctx, refs, RebaseOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	for i, r := range s.Results {
		if r == nil || r.Outcome != Failed || r.Ref != refs[i] {
			t.Errorf("result %d: %+v", i, r)
		}
	}
	for i, im := range New(newIO()).Status(ctx, refs, "") {
		if im == nil || im.Error == "" {
			t.Errorf("status %d: %+v", i, im)
		}
	}
}
