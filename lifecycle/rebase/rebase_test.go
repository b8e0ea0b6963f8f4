package rebase

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/kiln-build/kiln/lifecycle/labels"
)

const runName = "reg.example/stack/run:latest"

// TestRebaseLayersAndConfig: the run image layers are swapped, the app's
// stay byte-identical, and the config takes what came from the base from
// the new run image while keeping the app's own settings.
func TestRebaseLayersAndConfig(t *testing.T) {
	old := makeBase(t, defaultBase())
	spec := defaultBase()
	spec.layers = 3
	spec.env = []string{"CNB_USER_ID=1000", "PATH=/opt/bin:/usr/bin", "NEW=1"}
	spec.extraLabels = map[string]string{labels.BaseReleased: "2026-01-01"}
	patched := makeBase(t, spec)
	app := makeApp(t, old, labels.RunImage{Image: runName, Mirrors: []string{"mirror.example/run:latest"}})

	res, err := Rebase(t.Context(), app, Options{RunImage: patched, RunImageName: runName})
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(res.Image); err != nil {
		t.Fatalf("rebased image is not valid: %v", err)
	}

	appDigests := layerDigests(t, app)
	want := append(layerDigests(t, patched), appDigests[2:]...)
	if d := cmp.Diff(want, layerDigests(t, res.Image)); d != "" {
		t.Errorf("layers (-want +got):\n%s", d)
	}
	appCfg, patchedCfg, cfg := configOf(t, app), configOf(t, patched), configOf(t, res.Image)
	wantIDs := append(append([]v1.Hash(nil), patchedCfg.RootFS.DiffIDs...), appCfg.RootFS.DiffIDs[2:]...)
	if d := cmp.Diff(wantIDs, cfg.RootFS.DiffIDs); d != "" {
		t.Errorf("diffIDs (-want +got):\n%s", d)
	}

	md, oldMD := lifecycleOf(t, res.Image), lifecycleOf(t, app)
	wantRI := labels.RunImage{
		Image:     runName,
		Mirrors:   []string{"mirror.example/run:latest"},
		TopLayer:  patchedCfg.RootFS.DiffIDs[2].String(),
		Reference: "reg.example/stack/run@" + digestOf(t, patched).String(),
	}
	if d := cmp.Diff(wantRI, md.RunImage); d != "" {
		t.Errorf("runImage (-want +got):\n%s", d)
	}
	if d := cmp.Diff(wantRI, res.New); d != "" {
		t.Errorf("Result.New (-want +got):\n%s", d)
	}
	if d := cmp.Diff(oldMD.RunImage, res.Old); d != "" {
		t.Errorf("Result.Old (-want +got):\n%s", d)
	}
	// Everything else in the label is unchanged.
	oldMD.RunImage, md.RunImage = labels.RunImage{}, labels.RunImage{}
	if d := cmp.Diff(oldMD, md); d != "" {
		t.Errorf("lifecycle label besides runImage (-old +new):\n%s", d)
	}

	wantLabels := map[string]string{
		labels.StackID:           "io.kiln.test",
		labels.BaseID:            "io.kiln.test",
		labels.BaseDistroName:    "debian",
		labels.BaseDistroVersion: "12",
		labels.BaseReleased:      "2026-01-01",
		"org.example.base":       "yes",
		"org.example.app":        "mine",
		labels.LifecycleMetadata: cfg.Config.Labels[labels.LifecycleMetadata],
	}
	if d := cmp.Diff(wantLabels, cfg.Config.Labels); d != "" {
		t.Errorf("labels (-want +got):\n%s", d)
	}
	wantEnv := []string{"CNB_USER_ID=1000", "NEW=1", "CNB_LAYERS_DIR=/layers", "CNB_APP_DIR=/workspace", "CNB_PLATFORM_API=0.15", "PATH=/cnb/process:/opt/bin:/usr/bin"}
	if d := cmp.Diff(wantEnv, cfg.Config.Env); d != "" {
		t.Errorf("env (-want +got):\n%s", d)
	}
	if d := cmp.Diff(appCfg.Config.Entrypoint, cfg.Config.Entrypoint); d != "" || cfg.Config.WorkingDir != "/workspace" || cfg.Config.User != appCfg.Config.User {
		t.Errorf("entrypoint %v, working dir %q, user %q changed", cfg.Config.Entrypoint, cfg.Config.WorkingDir, cfg.Config.User)
	}
	if !cfg.Created.Equal(appCfg.Created.Time) {
		t.Errorf("created %v, want the app's %v", cfg.Created, appCfg.Created)
	}
	wantHist := append(append([]v1.History(nil), patchedCfg.History...), appCfg.History[len(appCfg.History)-3:]...)
	if d := cmp.Diff(wantHist, cfg.History); d != "" {
		t.Errorf("history (-want +got):\n%s", d)
	}

	// Same inputs, same image.
	again, err := Rebase(t.Context(), app, Options{RunImage: patched, RunImageName: runName})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := digestOf(t, res.Image), digestOf(t, again.Image); a != b {
		t.Errorf("two rebases with the same inputs differ: %s, %s", a, b)
	}
}

// TestRebaseRefusals: every unsafe rebase is refused with one error that
// says what differs, and --force lets it through with target data from the
// new run image.
func TestRebaseRefusals(t *testing.T) {
	for _, tc := range []struct {
		name      string
		oldBase   func(*baseSpec)
		newBase   func(*baseSpec)
		requested string
		wantErr   string // "" means the rebase is safe
	}{
		{name: "compatible"},
		{name: "rebasable false", oldBase: func(s *baseSpec) { s.rebasable = "false" }, wantErr: "the app image is labelled io.buildpacks.rebasable=false"},
		{name: "rebasable true", oldBase: func(s *baseSpec) { s.rebasable = "true" }},
		{name: "distro version", newBase: func(s *baseSpec) { s.distroVersion = "13" }, wantErr: `io.buildpacks.base.distro.version "13", was "12"`},
		{name: "distro name", newBase: func(s *baseSpec) { s.distroName = "ubuntu" }, wantErr: `io.buildpacks.base.distro.name "ubuntu", was "debian"`},
		{name: "distro unspecified on the new image", newBase: func(s *baseSpec) { s.distroName, s.distroVersion = "", "" }},
		{name: "os", newBase: func(s *baseSpec) { s.os = "windows" }, wantErr: `os "windows", was "linux"`},
		{name: "architecture", newBase: func(s *baseSpec) { s.arch = "arm64" }, wantErr: `architecture "arm64", was "amd64"`},
		{name: "variant", oldBase: func(s *baseSpec) { s.arch, s.variant = "arm", "v7" }, newBase: func(s *baseSpec) { s.arch, s.variant = "arm", "v6" }, wantErr: `variant "v6", was "v7"`},
		{name: "variant unspecified on the old image", newBase: func(s *baseSpec) { s.variant = "v8" }},
		{name: "requested: recorded image", requested: runName},
		{name: "requested: recorded repository, other tag", requested: "reg.example/stack/run:patched"},
		{name: "requested: recorded repository by digest", requested: "reg.example/stack/run@sha256:" + strings.Repeat("ab", 32)},
		{name: "requested: a mirror", requested: "mirror.example/run:v2"},
		{name: "requested: elsewhere", requested: "reg.example/other/run:latest", wantErr: "run image reg.example/other/run:latest is neither the app's recorded run image reg.example/stack/run:latest nor one of its mirrors (its mirrors are mirror.example/run:latest)"},
		{name: "requested: a layout", requested: "oci:/tmp/run", wantErr: "run image oci:/tmp/run is neither"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os, ns := defaultBase(), defaultBase()
			if tc.oldBase != nil {
				tc.oldBase(&os)
			}
			if tc.newBase != nil {
				tc.newBase(&ns)
			}
			app := makeApp(t, makeBase(t, os), labels.RunImage{Image: runName, Mirrors: []string{"mirror.example/run:latest"}})
			run := makeBase(t, ns)
			o := Options{RunImage: run, RunImageName: runName}
			if tc.requested != "" {
				o.RunImageName, o.Requested = tc.requested, true
			}
			res, err := Rebase(t.Context(), app, o)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("safe rebase refused: %v", err)
				}
				if len(res.Overridden) != 0 {
					t.Errorf("Overridden = %v", res.Overridden)
				}
				return
			}
			var refused *RefusedError
			if !errors.As(err, &refused) {
				t.Fatalf("error = %v, want a RefusedError", err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "--force") {
				t.Errorf("error %q lacks %q or the --force hint", err, tc.wantErr)
			}

			o.Force = true
			res, err = Rebase(t.Context(), app, o)
			if err != nil {
				t.Fatalf("forced rebase failed: %v", err)
			}
			if len(res.Overridden) != 1 || !strings.Contains(res.Overridden[0], tc.wantErr) {
				t.Errorf("Overridden = %q, want one entry with %q", res.Overridden, tc.wantErr)
			}
			cfg, runCfg := configOf(t, res.Image), configOf(t, run)
			got := []string{cfg.OS, cfg.Architecture, cfg.Variant, cfg.Config.Labels[labels.BaseDistroName], cfg.Config.Labels[labels.BaseDistroVersion]}
			want := []string{runCfg.OS, runCfg.Architecture, runCfg.Variant, runCfg.Config.Labels[labels.BaseDistroName], runCfg.Config.Labels[labels.BaseDistroVersion]}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("target data after a forced rebase (-new run image +result):\n%s", d)
			}
			md := lifecycleOf(t, res.Image)
			if tc.requested != "" {
				// Leaving the lineage: the named image is recorded, without mirrors.
				wantRI := labels.RunImage{Image: tc.requested}
				if got := (labels.RunImage{Image: md.RunImage.Image, Mirrors: md.RunImage.Mirrors}); !cmp.Equal(wantRI, got) {
					t.Errorf("runImage %+v, want image %s and no mirrors", md.RunImage, tc.requested)
				}
				if md.Stack == nil || !cmp.Equal(wantRI, md.Stack.RunImage) {
					t.Errorf("stack.runImage %+v, want %+v", md.Stack, wantRI)
				}
			} else if md.RunImage.Image != runName || len(md.RunImage.Mirrors) != 1 {
				t.Errorf("runImage %+v lost its name or mirrors", md.RunImage)
			}
		})
	}
}

// TestRebaseRefusalsOrder: the app's own rebasable=false is reported
// before the run image's differences.
func TestRebaseRefusalsOrder(t *testing.T) {
	os, ns := defaultBase(), defaultBase()
	os.rebasable = "false"
	ns.distroVersion = "13"
	app := makeApp(t, makeBase(t, os), labels.RunImage{Image: runName})
	_, err := Rebase(t.Context(), app, Options{RunImage: makeBase(t, ns), RunImageName: runName})
	if err == nil || !strings.Contains(err.Error(), "rebasable") {
		t.Errorf("error = %v, want the rebasable refusal", err)
	}
	res, err := Rebase(t.Context(), app, Options{RunImage: makeBase(t, ns), RunImageName: runName, Force: true})
	if err != nil || len(res.Overridden) != 2 {
		t.Errorf("forced: %v, overridden %q; want both refusals overridden", err, res.Overridden)
	}
}

// TestRebaseNotAppImage: images without what a rebase needs are rejected
// with ErrNotAppImage.
func TestRebaseNotAppImage(t *testing.T) {
	base := makeBase(t, defaultBase())
	app := makeApp(t, base, labels.RunImage{Image: runName})
	setLabel := func(v string) v1.Image {
		cfg := configOf(t, app).DeepCopy()
		if v == "" {
			delete(cfg.Config.Labels, labels.LifecycleMetadata)
		} else {
			cfg.Config.Labels[labels.LifecycleMetadata] = v
		}
		img, err := mutate.ConfigFile(app, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	for _, tc := range []struct {
		name    string
		img     v1.Image
		wantErr string
	}{
		{"no label", setLabel(""), "has no io.buildpacks.lifecycle.metadata label"},
		{"bad JSON", setLabel("{"), "io.buildpacks.lifecycle.metadata"},
		{"no top layer", setLabel(`{"runImage":{"image":"x"}}`), "records no runImage.topLayer"},
		{"top layer not in the image", setLabel(`{"runImage":{"topLayer":"sha256:` + strings.Repeat("0", 64) + `"}}`), "is not among its layers"},
		{"top layer not a digest", setLabel(`{"runImage":{"topLayer":"nope"}}`), `runImage.topLayer "nope"`},
		{"the run image itself", base, "has no io.buildpacks.lifecycle.metadata label"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Rebase(t.Context(), tc.img, Options{RunImage: base, RunImageName: runName})
			if !errors.Is(err, ErrNotAppImage) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %v, want ErrNotAppImage with %q", err, tc.wantErr)
			}
		})
	}
}

// TestRebaseMediaTypes: onto a run image with an OCI manifest, the app's
// Docker-typed layers are named as OCI layers, with unchanged digests.
func TestRebaseMediaTypes(t *testing.T) {
	app := makeApp(t, makeBase(t, defaultBase()), labels.RunImage{Image: runName})
	oci := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	l, err := random.Layer(100, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	oci, err = mutate.AppendLayers(oci, l)
	if err != nil {
		t.Fatal(err)
	}
	cfg := configOf(t, oci).DeepCopy()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.Config.Labels = map[string]string{labels.BaseDistroName: "debian", labels.BaseDistroVersion: "12"}
	if oci, err = mutate.ConfigFile(oci, cfg); err != nil {
		t.Fatal(err)
	}
	res, err := Rebase(t.Context(), app, Options{RunImage: oci, RunImageName: runName})
	if err != nil {
		t.Fatal(err)
	}
	m, err := res.Image.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON {
		t.Errorf("manifest %s, config %s; want the run image's OCI types", m.MediaType, m.Config.MediaType)
	}
	var got []types.MediaType
	for _, l := range m.Layers {
		got = append(got, l.MediaType)
	}
	if d := cmp.Diff([]types.MediaType{types.OCILayer, types.OCILayer, types.OCILayer, types.OCILayer}, got); d != "" {
		t.Errorf("layer media types (-want +got):\n%s", d)
	}
	if d := cmp.Diff(layerDigests(t, app)[2:], layerDigests(t, res.Image)[1:]); d != "" {
		t.Errorf("app layer digests changed (-want +got):\n%s", d)
	}
	if err := validate.Image(res.Image); err != nil {
		t.Errorf("rebased image is not valid: %v", err)
	}
}

func TestTopIndex(t *testing.T) {
	h := func(c string) v1.Hash { return v1.Hash{Algorithm: "sha256", Hex: strings.Repeat(c, 64)} }
	a, b, e, x, y, u := h("a"), h("b"), h("e"), h("1"), h("2"), h("3")
	label := func(own ...v1.Hash) string {
		md := labels.Lifecycle{}
		for _, o := range own {
			md.App = append(md.App, labels.LayerSHA{SHA: o.String()})
		}
		s, _ := labels.Encode(md)
		return s
	}
	for _, tc := range []struct {
		name  string
		ids   []v1.Hash
		label string
		top   v1.Hash
		want  int
	}{
		{"plain", []v1.Hash{a, b, x, y}, label(x, y), b, 1},
		{"top repeated in the run image", []v1.Hash{e, a, e, x, y}, label(x, y), e, 2},
		{"an unnamed layer on top", []v1.Hash{a, e, b, e, x, y, u}, label(x, y), e, 3},
		{"no label entries", []v1.Hash{a, e, b, e, x}, label(), e, 3},
		{"the app's own layer equals the top", []v1.Hash{a, e, e}, label(e), e, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &v1.ConfigFile{RootFS: v1.RootFS{DiffIDs: tc.ids}, Config: v1.Config{Labels: map[string]string{labels.LifecycleMetadata: tc.label}}}
			got, err := topIndex(cfg, tc.top.String())
			if err != nil || got != tc.want {
				t.Errorf("topIndex = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestInLineage(t *testing.T) {
	ri := labels.RunImage{Image: "reg.example/stack/run:latest", Mirrors: []string{"ubuntu:22.04", "mirror.example:5000/run"}}
	for ref, want := range map[string]bool{
		"reg.example/stack/run":                    true,
		"reg.example/stack/run:v2":                 true,
		"reg.example/stack/run@sha256:" + h64("c"): true,
		"docker.io/library/ubuntu:24.04":           true,
		"index.docker.io/library/ubuntu":           true,
		"mirror.example:5000/run:x":                true,
		"reg.example/stack/run2":                   false,
		"other.example/stack/run":                  false,
		"oci:/x":                                   false,
		"docker-archive:/x.tar":                    false,
		"":                                         false,
		"Not A Reference":                          false,
	} {
		if got := InLineage(ref, ri); got != want {
			t.Errorf("InLineage(%q) = %v, want %v", ref, got, want)
		}
	}
	if InLineage("reg.example/stack/run", labels.RunImage{}) {
		t.Error("InLineage with no recorded image is true")
	}
}

func h64(c string) string { return strings.Repeat(c, 64) }
