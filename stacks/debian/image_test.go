package debian

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// fakeImage assembles an image from the hand-made root file system.
func fakeImage(t *testing.T, r Recipe) v1.Image {
	t.Helper()
	r = r.normalize()
	a := openFake(t, smallRootfs(t))
	f, err := inspect(a, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := clean(a); err != nil {
		t.Fatal(err)
	}
	if err := addUser(a, r, f.epoch); err != nil {
		t.Fatal(err)
	}
	lp := filepath.Join(t.TempDir(), "layer.tar.gz")
	if err := writeLayer(context.Background(), a, lp, f.epoch); err != nil {
		t.Fatal(err)
	}
	img, err := assemble(r, lp, f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestAssemble(t *testing.T) {
	epoch := time.Date(2024, 5, 20, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		r          Recipe
		user       string
		env        []string
		labels     map[string]string
		arch, vari string
	}{{
		name: "build image with stack id",
		r: Recipe{Suite: "bookworm", Arch: "amd64", UID: 1234, StackID: "io.kiln.test",
			Env: map[string]string{"LANG": "C.UTF-8"}, Labels: map[string]string{"org.example.team": "kiln"}},
		user: "1234:1234",
		env:  []string{"CNB_GROUP_ID=1234", "CNB_STACK_ID=io.kiln.test", "CNB_USER_ID=1234", "LANG=C.UTF-8", "PATH=" + DefaultPath},
		labels: map[string]string{
			"org.example.team": "kiln",
			LabelDistroName:    "debian",
			LabelDistroVersion: "12",
			LabelReleased:      "2024-05-20T10:00:00Z",
			LabelStackID:       "io.kiln.test",
			LabelBaseID:        "io.kiln.test",
			LabelPackages:      `["bash:amd64=5.2","dash:amd64=0.5"]`,
		},
		arch: "amd64",
	}, {
		name: "run image as root on arm64 with its own PATH",
		r: Recipe{Suite: "bookworm", Arch: "arm64", Kind: KindRun, RootUser: true,
			Env: map[string]string{"PATH": "/opt/bin:/usr/bin"}},
		user: "0:0",
		env:  []string{"CNB_GROUP_ID=1000", "CNB_USER_ID=1000", "PATH=/opt/bin:/usr/bin"},
		labels: map[string]string{
			LabelDistroName:    "debian",
			LabelDistroVersion: "12",
			LabelReleased:      "2024-05-20T10:00:00Z",
			LabelPackages:      `["bash:amd64=5.2","dash:amd64=0.5"]`,
		},
		arch: "arm64", vari: "v8",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := fakeImage(t, tc.r)
			cfg, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Config.User != tc.user {
				t.Errorf("User = %q, want %q", cfg.Config.User, tc.user)
			}
			if diff := cmp.Diff(tc.env, cfg.Config.Env); diff != "" {
				t.Errorf("Env (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.labels, cfg.Config.Labels); diff != "" {
				t.Errorf("Labels (-want +got):\n%s", diff)
			}
			if cfg.OS != "linux" || cfg.Architecture != tc.arch || cfg.Variant != tc.vari {
				t.Errorf("platform %s/%s/%s, want linux/%s/%s", cfg.OS, cfg.Architecture, cfg.Variant, tc.arch, tc.vari)
			}
			if !cfg.Created.Time.Equal(epoch) {
				t.Errorf("Created = %v, want %v", cfg.Created.Time, epoch)
			}
			if len(cfg.History) != 1 || !cfg.History[0].Created.Time.Equal(epoch) ||
				!strings.Contains(cfg.History[0].CreatedBy, "mmdebstrap --variant=minbase") {
				t.Errorf("History = %+v", cfg.History)
			}
			mt, err := img.MediaType()
			if err != nil || mt != types.OCIManifestSchema1 {
				t.Errorf("manifest media type %q (%v), want OCI", mt, err)
			}
			layers, err := img.Layers()
			if err != nil || len(layers) != 1 {
				t.Fatalf("%d layers (%v), want 1", len(layers), err)
			}
			if lmt, _ := layers[0].MediaType(); lmt != types.OCILayer {
				t.Errorf("layer media type %q, want %q", lmt, types.OCILayer)
			}
		})
	}
}

func TestAssembleIsDeterministic(t *testing.T) {
	r := Recipe{Suite: "bookworm", Arch: "amd64", UID: 1234}
	d1, err := fakeImage(t, r).Digest()
	if err != nil {
		t.Fatal(err)
	}
	d2, err := fakeImage(t, r).Digest()
	if err != nil {
		t.Fatal(err)
	}
	if d1 != d2 {
		t.Errorf("same rootfs and recipe gave %s and %s", d1, d2)
	}
}

func TestPackages(t *testing.T) {
	got, err := Packages(fakeImage(t, Recipe{Suite: "bookworm", Arch: "amd64"}))
	if err != nil {
		t.Fatal(err)
	}
	want := []Package{{Name: "bash", Version: "5.2", Architecture: "amd64"}, {Name: "dash", Version: "0.5", Architecture: "amd64"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Packages (-want +got):\n%s", diff)
	}
	if _, err := Packages(empty.Image); err == nil || !strings.Contains(err.Error(), LabelPackages) {
		t.Errorf("Packages(empty) error = %v, want one naming the label", err)
	}
}

func TestCacheRoundTripAndPublish(t *testing.T) {
	img := fakeImage(t, Recipe{Suite: "bookworm", Arch: "amd64"})
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	entry := filepath.Join(cache, "entry")
	if _, err := loadCached(entry); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("loadCached(missing) = %v, want fs.ErrNotExist", err)
	}

	stage := func(name string) string {
		dir := filepath.Join(cache, name)
		if err := writeLayout(dir, img, []byte(name)); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	recipeOf := func() string {
		b, err := os.ReadFile(filepath.Join(entry, recipeFile))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	if err := publish(stage(".partial-1"), entry, false); err != nil {
		t.Fatal(err)
	}
	got, err := loadCached(entry)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := got.Digest(); d != want {
		t.Errorf("cached digest %s, want %s", d, want)
	}
	if _, err := Packages(got); err != nil {
		t.Errorf("cached image lost its package label: %v", err)
	}

	// Another build finishing second keeps the first entry...
	if err := publish(stage(".partial-2"), entry, false); err != nil {
		t.Fatal(err)
	}
	if r := recipeOf(); r != ".partial-1" {
		t.Errorf("entry replaced without replace: recipe.json = %q", r)
	}
	// ...unless it was asked to replace it.
	if err := publish(stage(".partial-3"), entry, true); err != nil {
		t.Fatal(err)
	}
	if r := recipeOf(); r != ".partial-3" {
		t.Errorf("entry not replaced: recipe.json = %q", r)
	}
	left, err := os.ReadDir(cache)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	// .partial-2 stays for Build's deferred RemoveAll of its work directory.
	if diff := cmp.Diff([]string{".partial-2", "entry"}, names); diff != "" {
		t.Errorf("cache directory (-want +got):\n%s", diff)
	}
}

func TestBuildOptionErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Build(ctx, Recipe{Suite: "bookworm"}, Options{}); err == nil || !strings.Contains(err.Error(), "CacheDir") {
		t.Errorf("Build without CacheDir: %v", err)
	}
	if _, err := Build(ctx, Recipe{}, Options{CacheDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "recipe suite") {
		t.Errorf("Build without suite: %v", err)
	}
	_, err := Build(ctx, Recipe{Suite: "bookworm"}, Options{CacheDir: t.TempDir(), Mmdebstrap: "kiln-no-such-mmdebstrap"})
	if err == nil || !strings.Contains(err.Error(), "kiln-no-such-mmdebstrap") || !strings.Contains(err.Error(), "install the Debian package mmdebstrap") {
		t.Errorf("Build with a missing tool: %v", err)
	}
}
