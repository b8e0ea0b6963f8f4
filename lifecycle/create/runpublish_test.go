package create

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// A published app whose run image is only in the local store takes it to
// its registry and records it there; one whose run image is read from a
// registry records that one, as does an app kept in the store.
func TestRunImagePublished(t *testing.T) {
	for _, tc := range []struct {
		name     string
		repo     string // --run-image-repo
		inReg    bool   // the run image is in a registry, not the store
		wantName string // %s is the registry
	}{
		{name: "beside the app", wantName: "%s/team/run:latest"},
		{name: "--run-image-repo", repo: "%s/stacks/bookworm-run:2", wantName: "%s/stacks/bookworm-run:2"},
		{name: "from a registry", inReg: true, wantName: "%s/stack/run:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := newRegistry(t)
			f := newFixture(t)
			f.o.Name = reg.host + "/team/app:latest"
			f.o.Output = imageio.Location{Kind: imageio.Registry, Name: f.o.Name}
			if tc.repo != "" {
				f.o.RunImageRepo = strings.ReplaceAll(tc.repo, "%s", reg.host)
			}
			run, err := f.store.Image(runName)
			if err != nil {
				t.Fatal(err)
			}
			if tc.inReg {
				f.o.RunImage = reg.host + "/stack/run:1"
				if err := f.iio.Write(bg, imageio.Location{Kind: imageio.Registry, Name: f.o.RunImage}, run); err != nil {
					t.Fatal(err)
				}
			}
			f.mustBuild()
			app, err := f.iio.Remote(bg, f.o.Name)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := app.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			var md labels.Lifecycle
			if ok, err := labels.Decode(cfg, labels.LifecycleMetadata, &md); !ok || err != nil {
				t.Fatalf("lifecycle label: %v %v", ok, err)
			}
			d, _ := run.Digest()
			wantName := strings.ReplaceAll(tc.wantName, "%s", reg.host)
			wantRef := wantName[:strings.LastIndex(wantName, ":")] + "@" + d.String()
			if diff := cmp.Diff([]string{wantName, wantRef}, []string{md.RunImage.Image, md.RunImage.Reference}); diff != "" {
				t.Errorf("recorded run image (-want +got):\n%s", diff)
			}
			// The recorded reference is pullable.
			pulled, err := f.iio.Remote(bg, md.RunImage.Reference)
			if err != nil {
				t.Fatal(err)
			}
			if pd, _ := pulled.Digest(); pd != d {
				t.Errorf("pulled %s, want %s", pd, d)
			}
			published := slices.Contains(f.log.steps(), "export: PUBLISHED RUN IMAGE "+wantRef[:strings.Index(wantRef, "@")]+"@sha256:…")
			if published == tc.inReg {
				t.Errorf("run image published: %v, want %v (steps %q)", published, !tc.inReg, f.log.steps())
			}
		})
	}
}

// A build kept in the store records the run image as the builder names
// it, even when it is only local.
func TestRunImageNotPublishedLocally(t *testing.T) {
	f := newFixture(t)
	f.mustBuild()
	cfg, err := f.output().ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	var md labels.Lifecycle
	if _, err := labels.Decode(cfg, labels.LifecycleMetadata, &md); err != nil {
		t.Fatal(err)
	}
	if md.RunImage.Image != runName || !strings.HasPrefix(md.RunImage.Reference, "index.docker.io/kiln-test/run@sha256:") {
		t.Errorf("recorded run image %+v", md.RunImage)
	}
}

func TestPublishedRunImage(t *testing.T) {
	for _, tc := range []struct {
		app, repo, run, want, wantErr string
	}{
		{app: "reg.io/team/app:1", run: "kiln/debian-bookworm-run:latest", want: "reg.io/team/run:latest"},
		{app: "reg.io/a/b/app", run: "kiln/run:v2", want: "reg.io/a/b/run:v2"},
		{app: "reg.io/app", run: "kiln/run", want: "reg.io/run:latest"},
		{app: "reg.io/app", run: "oci:/tmp/x", want: "reg.io/run:latest"},
		{app: "reg.io/app", run: "kiln/run@sha256:0000000000000000000000000000000000000000000000000000000000000000", want: "reg.io/run:latest"},
		{app: "localhost:5000/team/app", repo: "other.io/stacks/run", run: "kiln/run:v3", want: "other.io/stacks/run:v3"},
		{app: "localhost:5000/team/app", repo: "other.io/stacks/run:pinned", run: "kiln/run:v3", want: "other.io/stacks/run:pinned"},
		{app: "reg.io/team/run", run: "kiln/run", wantErr: "--run-image-repo"},
		{app: "reg.io/app", repo: "Bad Repo", run: "kiln/run", wantErr: "--run-image-repo"},
	} {
		got, err := PublishedRunImage(tc.app, tc.repo, tc.run)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("PublishedRunImage(%q, %q, %q) error %v, want one saying %q", tc.app, tc.repo, tc.run, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got.String() != tc.want {
			t.Errorf("PublishedRunImage(%q, %q, %q) = %v, %v; want %s", tc.app, tc.repo, tc.run, got, err, tc.want)
		}
	}
}

// A build with an older local run image does not move a run tag that a
// platform team has pointed at a patched run image: it pushes by digest.
func TestRunImagePublishKeepsAMovedTag(t *testing.T) {
	reg := newRegistry(t)
	f := newFixture(t)
	f.o.Name = reg.host + "/team/app:latest"
	f.o.Output = imageio.Location{Kind: imageio.Registry, Name: f.o.Name}
	patched := randomImage(t)
	tag := reg.host + "/team/run:latest"
	if err := f.iio.Write(bg, imageio.Location{Kind: imageio.Registry, Name: tag}, patched); err != nil {
		t.Fatal(err)
	}
	f.mustBuild()
	cur, err := f.iio.Remote(bg, tag)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := cur.Digest()
	want, _ := patched.Digest()
	if got != want {
		t.Errorf("the build moved %s from %s to %s", tag, want, got)
	}
	run, err := f.store.Image(runName)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := run.Digest()
	if _, err := f.iio.Remote(bg, reg.host+"/team/run@"+d.String()); err != nil {
		t.Errorf("the local run image was not pushed by digest: %v", err)
	}
}
