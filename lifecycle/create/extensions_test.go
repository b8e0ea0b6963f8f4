package create

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/kiln-build/kiln/lifecycle/builder"
	"github.com/kiln-build/kiln/lifecycle/buildpackage"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

const (
	extID     = "kiln-test/ext"
	extRef    = extID + "@0.0.1"
	otherRun  = "kiln-test/run-other:latest"
	extOutRel = "generated/kiln-test_ext"
)

// extBuilder is testBuilder with an image extension in front of every
// group.
func extBuilder(t *testing.T) v1.Image {
	t.Helper()
	base := testBuilder(t)
	dir := filepath.Join(t.TempDir(), "ext")
	writeFile(t, filepath.Join(dir, "extension.toml"), "api = \"0.10\"\n[extension]\nid = \""+extID+"\"\nversion = \"0.0.1\"\n")
	writeFile(t, filepath.Join(dir, "bin", "generate"), "#!/bin/sh\n")
	ext, err := buildpackage.FromModuleDir(bg, descriptor.KindExtension, dir, buildpackage.LayerOptions{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	// the extension goes on top of the plain test builder, as a second
	// builder.Create would lay it out
	img, err := builder.Create(bg, base, builder.CreateOptions{
		Order:           descriptor.Order{{Group: []descriptor.GroupEntry{{ID: bpID, Version: bpVersion}}}},
		Extensions:      []buildpackage.Buildpack{ext},
		OrderExtensions: descriptor.Order{{Group: []descriptor.GroupEntry{{ID: extID, Version: "0.0.1"}}}},
		Run:             builder.RunImages{Images: []builder.RunImage{{Image: runName}}},
		TempDir:         t.TempDir(),
		Packaged:        packagedOf(t, base),
	})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// packagedOf is the buildpacks of a builder image, with their layers.
func packagedOf(t *testing.T, img v1.Image) []buildpackage.Buildpack {
	t.Helper()
	bps, err := buildpackage.ReadLayers(bg, img, "test builder")
	if err != nil {
		t.Fatal(err)
	}
	return bps
}

// generating is a detect-generate phase that picks the extension and
// leaves files (relative to <layers>/generated/kiln-test_ext) as its
// bin/generate would; a nil map means the extension did not pass.
func generating(files map[string]string) phaseFunc {
	return func(_ context.Context, h hostDirs) (int, error) {
		g := descriptor.Groups{Buildpacks: []descriptor.GroupEntry{{ID: bpID, Version: bpVersion, API: "0.12"}}}
		if files != nil {
			g.Extensions = []descriptor.GroupEntry{{ID: extID, Version: "0.0.1", API: "0.10"}}
		}
		if err := descriptor.WriteGroups(filepath.Join(h.layers, descriptor.GroupFile), g); err != nil {
			return -1, err
		}
		for rel, content := range files {
			p := filepath.Join(h.layers, extOutRel, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return -1, err
			}
			if strings.HasPrefix(content, "->") {
				if err := os.Symlink(strings.TrimPrefix(content, "->"), p); err != nil {
					return -1, err
				}
				continue
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				return -1, err
			}
		}
		return 0, nil
	}
}

// runImageWith is a random run image with the given platform and distro.
func runImageWith(t *testing.T, arch, distro string) v1.Image {
	t.Helper()
	img := randomImage(t)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Config.Labels = map[string]string{labels.BaseDistroName: distro}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

func argValue(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func TestRunWithExtensions(t *testing.T) {
	const (
		keep     = "ARG base_image\nFROM ${base_image}\n"
		toOther  = "ARG base_image\nFROM " + otherRun + "\n"
		withRUN  = "ARG base_image\nFROM ${base_image}\nRUN apt-get install -y curl\n"
		buildRUN = "ARG base_image\nFROM ${base_image}\nRUN true\n"
	)
	tests := []struct {
		name      string
		generate  phaseFunc
		wantRun   string // the run image the app sits on
		wantCode  int
		wantPhase string
		wantText  []string
		wantSteps []string // steps that must be there
		wantWarn  string
		noExt     bool // no extension passed detection
		listed    bool // Options.ListedRunImagesOnly
	}{
		{name: "a run.Dockerfile switching the run image", generate: generating(map[string]string{"run.Dockerfile": toOther}), wantRun: otherRun,
			wantSteps: []string{"detect: DETECTING", "run image: RUN IMAGE " + otherRun + " (chosen by extension " + extRef + ")", "build: BUILDING"},
			wantWarn:  "the run image " + otherRun + " that extension " + extRef + " chose is not among the builder's run images"},
		{name: "an unlisted run image is refused when only listed ones are taken", generate: generating(map[string]string{"run.Dockerfile": toOther}), listed: true,
			wantCode: failure.GenerateError, wantPhase: "generate",
			wantText: []string{"extension " + extRef + ": run.Dockerfile: FROM " + otherRun + ": the builder does not list that run image"}},
		{name: "a listed run image is taken when only listed ones are", generate: generating(map[string]string{"run.Dockerfile": "FROM " + runName + "\n"}), listed: true, wantRun: runName},
		{name: "a run.Dockerfile keeping it", generate: generating(map[string]string{"run.Dockerfile": keep, "build.Dockerfile": keep}), wantRun: runName},
		{name: "no extension passed", generate: generating(nil), wantRun: runName, noExt: true},
		{name: "static output without a Dockerfile", generate: generating(map[string]string{"extend-config.toml": "[[run.args]]\nname = \"x\"\nvalue = \"1\"\n"}), wantRun: runName},
		{name: "a RUN instruction is refused", generate: generating(map[string]string{"run.Dockerfile": withRUN}),
			wantCode: failure.GenerateError, wantPhase: "generate",
			wantText: []string{"extension " + extRef + ": its run.Dockerfile asks for RUN (line 3)", "kiln does not apply Dockerfile instructions"}},
		{name: "a build.Dockerfile is refused", generate: generating(map[string]string{"build.Dockerfile": buildRUN}),
			wantCode: failure.GenerateError, wantPhase: "generate",
			wantText: []string{"extension " + extRef + ": its build.Dockerfile asks for RUN (line 3)"}},
		{name: "a run image from a host path is refused", generate: generating(map[string]string{"run.Dockerfile": "FROM oci:/etc\n"}),
			wantCode: failure.GenerateError, wantPhase: "generate", wantText: []string{"extension " + extRef + ": run.Dockerfile: FROM oci:/etc"}},
		{name: "a Dockerfile behind a link is not read", generate: generating(map[string]string{"run.Dockerfile": "->/etc/passwd"}),
			wantCode: failure.GenerateError, wantPhase: "generate", wantText: []string{"extension " + extRef + ":", "symbolic link"}},
		{name: "a failing bin/generate", generate: failing(failure.GenerateFailed, GenerateErrorRel, "extension "+extRef+": bin/generate failed with exit code 3"),
			wantCode: failure.GenerateFailed, wantPhase: "generate", wantText: []string{"bin/generate failed with exit code 3"}},
		{name: "no group", generate: failing(failure.DetectNoGroup, DetectErrorRel, "no buildpack group passed detection"),
			wantCode: failure.DetectNoGroup, wantPhase: "detect", wantText: []string{"no buildpack group passed detection"}},
		{name: "a crash after detect is generate's", generate: func(ctx context.Context, h hostDirs) (int, error) {
			if _, err := generating(map[string]string{})(ctx, h); err != nil {
				return -1, err
			}
			return 2, nil
		}, wantCode: failure.GenerateError, wantPhase: "generate", wantText: []string{"the generate phase failed with exit code 92"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.put(builderName, extBuilder(t))
			f.put(runName, runImageWith(t, "amd64", ""))
			f.put(otherRun, runImageWith(t, "amd64", "other-distro"))
			f.sb.phases["detect-generate"] = tc.generate
			f.o.ListedRunImagesOnly = tc.listed
			res, err := f.run(bg)
			if tc.wantCode != 0 {
				if err == nil {
					t.Fatalf("the build passed; want code %d\nlog:\n%s", tc.wantCode, f.log.text())
				}
				var fe *failure.Error
				if got := failure.Code(err); got != tc.wantCode || !errors.As(err, &fe) || fe.Phase != tc.wantPhase {
					t.Errorf("error %v: code %d, want %d in phase %s", err, got, tc.wantCode, tc.wantPhase)
				}
				for _, s := range tc.wantText {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error lacks %q:\n%v", s, err)
					}
				}
				if diff := cmp.Diff([]string{"detect-generate"}, f.sb.phaseNames()); diff != "" {
					t.Errorf("containers run (-want +got):\n%s", diff)
				}
				if f.output() != nil {
					t.Error("a failed build wrote an image")
				}
				f.checkClean()
				return
			}
			if err != nil {
				t.Fatalf("build: %v\nlog:\n%s", err, f.log.text())
			}
			if diff := cmp.Diff([]string{"detect-generate", "build"}, f.sb.phaseNames()); diff != "" {
				t.Errorf("containers run (-want +got):\n%s", diff)
			}
			steps := f.log.steps()
			for _, s := range tc.wantSteps {
				if !slices.Contains(steps, s) {
					t.Errorf("no step %q in %q", s, steps)
				}
			}
			if tc.wantWarn != "" && !slices.Contains(f.log.of(Warning), tc.wantWarn) {
				t.Errorf("no warning %q in %q", tc.wantWarn, f.log.of(Warning))
			}
			cfg, err := res.Image.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			var md labels.Lifecycle
			if _, err := labels.Decode(cfg, labels.LifecycleMetadata, &md); err != nil {
				t.Fatal(err)
			}
			var build labels.Build
			if _, err := labels.Decode(cfg, labels.BuildMetadata, &build); err != nil {
				t.Fatal(err)
			}
			var wantExts []labels.BuildpackRef
			if !tc.noExt {
				wantExts = []labels.BuildpackRef{{ID: extID, Version: "0.0.1", API: "0.10"}}
			}
			if diff := cmp.Diff(wantExts, build.Extensions); diff != "" {
				t.Errorf("build metadata extensions (-want +got):\n%s", diff)
			}
			if md.RunImage.Image != tc.wantRun {
				t.Errorf("the app records run image %q, want %q", md.RunImage.Image, tc.wantRun)
			}
			run, err := f.store.Image(tc.wantRun)
			if err != nil {
				t.Fatal(err)
			}
			if !sameBase(t, res.Image, run) {
				t.Errorf("the app's base layers are not those of %s", tc.wantRun)
			}
			buildArgs := f.sb.configs[1].Args
			wantDistro := ""
			if tc.wantRun == otherRun {
				wantDistro = "other-distro"
				if got := argValue(buildArgs, "--target-arch"); got != "amd64" {
					t.Errorf("build container --target-arch %q", got)
				}
			}
			if got := argValue(buildArgs, "--target-distro-name"); got != wantDistro {
				t.Errorf("build container --target-distro-name %q, want %q", got, wantDistro)
			}
			f.checkClean()
		})
	}
}

// A run image for another platform than the build's is refused.
func TestRunWithExtensionOtherArch(t *testing.T) {
	f := newFixture(t)
	f.put(builderName, extBuilder(t))
	f.put(runName, runImageWith(t, "amd64", ""))
	f.put(otherRun, runImageWith(t, "arm64", ""))
	f.sb.phases["detect-generate"] = generating(map[string]string{"run.Dockerfile": "FROM " + otherRun + "\n"})
	_, err := f.run(bg)
	if failure.Code(err) != failure.GenerateError || err == nil || !strings.Contains(err.Error(), "is for linux/arm64, but this build is for linux/amd64") {
		t.Fatalf("error = %v", err)
	}
}

// The order the detect container gets carries the builder's extensions.
func TestRunWithExtensionsWritesOrder(t *testing.T) {
	f := newFixture(t)
	f.put(builderName, extBuilder(t))
	var got descriptor.Orders
	f.sb.phases["detect-generate"] = func(ctx context.Context, h hostDirs) (int, error) {
		var err error
		cfgDir := ""
		for _, m := range f.sb.configs[len(f.sb.configs)-1].Mounts {
			if m.Destination == ConfigPath {
				cfgDir = m.Source
			}
		}
		if got, err = descriptor.ReadOrders(filepath.Join(cfgDir, "order.toml")); err != nil {
			return -1, err
		}
		return generating(nil)(ctx, h)
	}
	f.mustBuild()
	want := descriptor.Orders{
		Buildpacks: descriptor.Order{{Group: []descriptor.GroupEntry{{ID: bpID, Version: bpVersion}}}},
		Extensions: descriptor.Order{{Group: []descriptor.GroupEntry{{ID: extID, Version: "0.0.1"}}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order.toml (-want +got):\n%s", diff)
	}
	if args := f.sb.configs[0].Args; !slices.Contains(args, "detect-generate") || argValue(args, "--order") != OrderPath {
		t.Errorf("detect container args %q", args)
	}
}

// sameBase says whether app's first layers are base's layers.
func sameBase(t *testing.T, app, base v1.Image) bool {
	t.Helper()
	al, err := app.Layers()
	if err != nil {
		t.Fatal(err)
	}
	bl, err := base.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(al) < len(bl) {
		return false
	}
	for i := range bl {
		a, err := al[i].Digest()
		if err != nil {
			t.Fatal(err)
		}
		b, err := bl[i].Digest()
		if err != nil {
			t.Fatal(err)
		}
		if a != b {
			return false
		}
	}
	return true
}
