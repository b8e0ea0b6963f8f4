package defaultbuilder

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/stacks/stack"
)

// fakeStack stands in for stack.Build (mmdebstrap): random images, the
// build image with the CNB user.
type fakeStack struct {
	t      *testing.T
	builds int
	err    error
}

func (f *fakeStack) build(context.Context, *stack.Stack) (*stack.Images, error) {
	f.builds++
	if f.err != nil {
		return nil, f.err
	}
	run, err := random.Image(64, 1)
	if err != nil {
		f.t.Fatal(err)
	}
	build, err := random.Image(64, 1)
	if err != nil {
		f.t.Fatal(err)
	}
	cf, err := build.ConfigFile()
	if err != nil {
		f.t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config.Env = []string{"CNB_USER_ID=1000", "CNB_GROUP_ID=1000"}
	if build, err = mutate.ConfigFile(build, cf); err != nil {
		f.t.Fatal(err)
	}
	return &stack.Images{Build: build, Run: run}, nil
}

func TestEnsure(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	for _, n := range []string{"static", "procfile"} {
		writeBuildpack(t, root, n)
	}
	t.Setenv("KILN_BUILDPACKS", root)
	store, err := imageio.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fs := &fakeStack{t: t}
	var log strings.Builder
	ensure := func() (string, error) {
		t.Helper()
		log.Reset()
		bps, err := FindBuildpacks(nil, "")
		if err != nil {
			t.Fatal(err)
		}
		return Ensure(ctx, Options{Store: store, Buildpacks: bps, BuildStack: fs.build, WorkDir: t.TempDir(), Version: "test", Log: &log})
	}
	step := func(name string, wantBuilds int, want, notWant []string) v1.Image {
		t.Helper()
		ref, err := ensure()
		if err != nil || ref != Name {
			t.Fatalf("%s: Ensure = %q, %v", name, ref, err)
		}
		if fs.builds != wantBuilds {
			t.Errorf("%s: the stack was built %d times, want %d", name, fs.builds, wantBuilds)
		}
		for _, w := range want {
			if !strings.Contains(log.String(), w) {
				t.Errorf("%s: log lacks %q:\n%s", name, w, log.String())
			}
		}
		for _, w := range notWant {
			if strings.Contains(log.String(), w) {
				t.Errorf("%s: log has %q:\n%s", name, w, log.String())
			}
		}
		img, err := store.Image(Name)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}

	first := step("first", 1, []string{"is not in the local store yet", "adding 2 buildpacks: kiln/procfile@0.1.0, kiln/static@0.1.0", "default builder ready", "run image: kiln/debian-bookworm-run:latest"}, nil)
	cfg, err := first.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cfg.Config.Labels[SourceLabel], "sha256:") {
		t.Errorf("builder labels %v lack %s", cfg.Config.Labels, SourceLabel)
	}
	if again := step("again", 1, nil, []string{"==>"}); mustDigest(t, again) != mustDigest(t, first) {
		t.Error("an unchanged default builder was made again")
	}

	// Without its run image, the stack is put back, the builder kept.
	if err := store.Remove("kiln/debian-bookworm-run:latest"); err != nil {
		t.Fatal(err)
	}
	step("run image gone", 2, []string{"run image:"}, []string{"adding", "making it"})

	// Other buildpacks: made again.
	writeBuildpack(t, root, "go")
	step("buildpacks changed", 3, []string{"made from other buildpacks", "adding 3 buildpacks"}, nil)

	// A stack that cannot be built fails with its own code.
	writeBuildpack(t, root, "nodejs")
	fs.err = failure.New("stack", failure.InvalidInput, errors.New("no package foo"))
	if _, err := ensure(); failure.Code(err) != failure.InvalidInput || !strings.Contains(err.Error(), "no package foo") {
		t.Errorf("stack failure: %v (code %d)", err, failure.Code(err))
	}
	fs.err = nil
	if err := os.RemoveAll(filepath.Join(root, "nodejs")); err != nil {
		t.Fatal(err)
	}
}

func mustDigest(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// What a make of the builder killed midway left in the work dir goes
// with the next make, which leaves nothing behind itself.
func TestEnsureCleansKilledWork(t *testing.T) {
	root := t.TempDir()
	writeBuildpack(t, root, "static")
	t.Setenv("KILN_BUILDPACKS", root)
	bps, err := FindBuildpacks(nil, "")
	if err != nil {
		t.Fatal(err)
	}
	store, err := imageio.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	// A killed make: a work dir whose lock nobody holds, with layer files.
	killed := filepath.Join(work, "default-builder", "build-killed")
	if err := os.MkdirAll(filepath.Join(killed, "builder"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{".lock", "builder/layer.tar"} {
		if err := os.WriteFile(filepath.Join(killed, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	o := Options{Store: store, Buildpacks: bps, BuildStack: (&fakeStack{t: t}).build, WorkDir: work, Version: "test"}
	if _, err := Ensure(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(filepath.Join(work, "default-builder")); len(left) != 0 {
		t.Errorf("left in the work dir: %v", left)
	}
}
