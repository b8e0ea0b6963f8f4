package rebase

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/internal/testutil"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// newIO is an imageio.IO with anonymous registry access and a store in a
// temp dir.
func newIO(t testing.TB) *imageio.IO {
	t.Helper()
	store, err := imageio.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return imageio.New(store, imageio.WithKeychain(authn.NewMultiKeychain()))
}

// baseSpec describes a test run image.
type baseSpec struct {
	layers        int
	os, arch      string
	variant       string
	distroName    string
	distroVersion string
	rebasable     string
	env           []string
	extraLabels   map[string]string
}

func defaultBase() baseSpec {
	return baseSpec{
		layers: 2, os: "linux", arch: "amd64",
		distroName: "debian", distroVersion: "12",
		env: []string{"PATH=/usr/bin:/bin", "CNB_USER_ID=1000", "LANG=C.UTF-8"},
	}
}

// makeBase is a random run image with the CNB base labels and an
// empty-layer history entry on top.
func makeBase(t testing.TB, s baseSpec) v1.Image {
	t.Helper()
	img := testutil.RandomImage(t, 512, int64(s.layers))
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = s.os, s.arch, s.variant
	cfg.Config.Env = s.env
	cfg.Config.User = "1000:1000"
	cfg.Config.Labels = map[string]string{
		labels.StackID:           "io.kiln.test",
		labels.BaseID:            "io.kiln.test",
		labels.BaseDistroName:    s.distroName,
		labels.BaseDistroVersion: s.distroVersion,
		"org.example.base":       "yes",
	}
	if s.rebasable != "" {
		cfg.Config.Labels[labels.Rebasable] = s.rebasable
	}
	for k, v := range s.extraLabels {
		cfg.Config.Labels[k] = v
	}
	cfg.History = append(cfg.History, v1.History{CreatedBy: "ENV LANG=C.UTF-8", EmptyLayer: true})
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// makeApp puts three app layers on base and labels the result the way the
// exporter does.
func makeApp(t testing.TB, base v1.Image, ri labels.RunImage) v1.Image {
	t.Helper()
	return makeAppSized(t, base, ri, 300)
}

// makeAppSized is makeApp with app layers of about size bytes each.
func makeAppSized(t testing.TB, base v1.Image, ri labels.RunImage, size int64) v1.Image {
	t.Helper()
	var adds []mutate.Addendum
	for i, what := range []string{"acme/rt:rt", "app", "launcher"} {
		l, err := random.Layer(size+int64(i), types.DockerLayer)
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, mutate.Addendum{Layer: l, History: v1.History{CreatedBy: "kiln: " + what}})
	}
	img, err := mutate.Append(base, adds...)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	baseCfg, _ := base.ConfigFile()
	n := len(baseCfg.RootFS.DiffIDs)
	d := cfg.RootFS.DiffIDs
	ri.TopLayer = d[n-1].String()
	if ri.Reference == "" {
		id, _ := base.ConfigName()
		ri.Reference = id.String()
	}
	md := labels.Lifecycle{
		App:      []labels.LayerSHA{{SHA: d[n+1].String()}},
		Launcher: labels.LayerSHA{SHA: d[n+2].String()},
		Buildpacks: []labels.BuildpackEntry{{Key: "acme/rt", Version: "1", Layers: map[string]labels.LayerMetadata{
			"rt": {SHA: d[n].String(), Launch: true},
		}}},
		RunImage: ri,
		Stack:    &labels.StackRunImage{RunImage: labels.RunImage{Image: ri.Image, Mirrors: ri.Mirrors}},
	}
	lc, err := labels.Encode(md)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Config.Labels[labels.LifecycleMetadata] = lc
	cfg.Config.Labels["org.example.app"] = "mine"
	cfg.Config.Entrypoint = []string{"/cnb/process/web"}
	cfg.Config.Cmd = nil
	cfg.Config.WorkingDir = "/workspace"
	// The exporter's environment: the base's, its own variables, PATH.
	var env []string
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range baseCfg.Config.Env {
		if p, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = p
			continue
		}
		env = append(env, kv)
	}
	cfg.Config.Env = append(env, "CNB_LAYERS_DIR=/layers", "CNB_APP_DIR=/workspace", "CNB_PLATFORM_API=0.15", "PATH=/cnb/process:"+path)
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func digestOf(t testing.TB, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func configOf(t testing.TB, img v1.Image) *v1.ConfigFile {
	t.Helper()
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func lifecycleOf(t testing.TB, img v1.Image) labels.Lifecycle {
	t.Helper()
	var md labels.Lifecycle
	if ok, err := labels.Decode(configOf(t, img), labels.LifecycleMetadata, &md); !ok || err != nil {
		t.Fatalf("lifecycle label: %v %v", ok, err)
	}
	return md
}

// layerDigests lists an image's layer digests from its manifest.
func layerDigests(t testing.TB, img v1.Image) []string {
	t.Helper()
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

func push(t testing.TB, iio *imageio.IO, ref string, img v1.Image) {
	t.Helper()
	if err := iio.Write(t.Context(), imageio.Location{Kind: imageio.Registry, Name: ref}, img); err != nil {
		t.Fatal(err)
	}
}
