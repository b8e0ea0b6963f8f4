package rebase

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/internal/export"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/labels"
	"github.com/kiln-build/kiln/lifecycle/launch"
)

// exportOnto runs kiln's real exporter on a small build result with run
// as the run image.
func exportOnto(t *testing.T, run v1.Image, ref string) v1.Image {
	t.Helper()
	layers, app := t.TempDir(), t.TempDir()
	write := func(p, s string) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(layers, "acme_rt", "rt.toml"), "[types]\nlaunch = true\n")
	write(filepath.Join(layers, "acme_rt", "rt", "bin", "rt"), "#!/bin/sh\n")
	write(filepath.Join(app, "main.sh"), "echo hi\n")
	md := launch.Metadata{
		Buildpacks: []launch.MetadataBuildpack{{ID: "acme/rt", Version: "1.0", API: "0.12"}},
		Processes:  []launch.MetadataProcess{{Type: "web", Command: []string{"./main.sh"}, Direct: true, BuildpackID: "acme/rt"}},
		Labels:     []launch.Label{{Key: "org.example.app", Value: "mine"}},
	}
	if err := os.MkdirAll(filepath.Join(layers, "config"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := launch.WriteMetadata(filepath.Join(layers, "config", "metadata.toml"), md); err != nil {
		t.Fatal(err)
	}
	res, err := export.Export(t.Context(), export.Options{
		RunImage:          run,
		RunImageInfo:      labels.RunImage{Image: runName, Mirrors: []string{"mirror.example/run:latest"}},
		RunImageReference: ref,
		LayersDir:         layers, AppDir: app,
		Group:    []descriptor.GroupEntry{{ID: "acme/rt", Version: "1.0", API: "0.12"}},
		Metadata: md,
		Launcher: []byte("launcher"),
		UID:      1000, GID: 1000,
		TempDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.Image
}

// TestRebaseMatchesExport: rebasing an exported app gives, byte for byte,
// the image the exporter makes on the new run image; rebasing onto the
// same run image changes nothing.
func TestRebaseMatchesExport(t *testing.T) {
	old := makeBase(t, defaultBase())
	spec := defaultBase()
	spec.layers = 3
	spec.env = []string{"CNB_USER_ID=1000", "PATH=/opt/bin:/usr/bin", "NEW=1"}
	patched := makeBase(t, spec)
	oldRef := "reg.example/stack/run@" + digestOf(t, old).String()
	newRef := "reg.example/stack/run@" + digestOf(t, patched).String()

	app := exportOnto(t, old, oldRef)
	fresh := exportOnto(t, patched, newRef)

	res, err := Rebase(t.Context(), app, Options{RunImage: patched, RunImageName: runName})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(configOf(t, fresh), configOf(t, res.Image)); d != "" {
		t.Errorf("config differs from a fresh export (-export +rebase):\n%s", d)
	}
	if got, want := digestOf(t, res.Image), digestOf(t, fresh); got != want {
		t.Errorf("rebased digest %s, a fresh export gives %s", got, want)
	}

	same, err := Rebase(t.Context(), app, Options{RunImage: old, RunImageName: runName})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := digestOf(t, same.Image), digestOf(t, app); got != want {
		t.Errorf("rebase onto the same run image changed the digest: %s -> %s", want, got)
	}
}
