package create

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/labels"
	"github.com/kiln-build/kiln/lifecycle/sandbox"
)

// A first build runs every phase and writes the image; a second finds the
// first as its previous image and gets its cache back.
func TestRunColdThenWarm(t *testing.T) {
	f := newFixture(t)
	res := f.mustBuild()
	want := []string{
		"builder: BUILDER " + builderName,
		"run image: RUN IMAGE " + runName,
		"prepare: SOURCE " + f.o.SourceDir,
		"detect: DETECTING",
		"build: BUILDING",
		"export: EXPORTING",
		"export: IMAGE " + appName + "@sha256:… (local store)",
	}
	if diff := cmp.Diff(want, f.log.steps()); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	img := f.output()
	if img == nil {
		t.Fatal("no image in the store")
	}
	if d, err := img.Digest(); err != nil || d != res.Digest {
		t.Errorf("stored digest %v (%v), result %v", d, err, res.Digest)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"/cnb/process/web"}, cfg.Config.Entrypoint); diff != "" {
		t.Errorf("entrypoint (-want +got):\n%s", diff)
	}
	var md labels.Lifecycle
	if ok, err := labels.Decode(cfg, labels.LifecycleMetadata, &md); !ok || err != nil {
		t.Fatalf("lifecycle label: %v %v", ok, err)
	}
	if len(md.Buildpacks) != 1 || md.Buildpacks[0].Layers["web"].SHA == "" || md.RunImage.Image != runName {
		t.Errorf("lifecycle label %+v", md)
	}
	if diff := cmp.Diff([]string{"detect-build"}, f.sb.phaseNames()); diff != "" {
		t.Errorf("phases run (-want +got):\n%s", diff)
	}
	checkContainer(t, f.sb.configs[0])
	f.checkClean()

	f.mustBuild()
	steps := f.log.steps()
	for _, s := range []string{"analyze: ANALYZED previous image sha256:…", "restore: RESTORED " + bpID + ":deps"} {
		if !slices.Contains(steps, s) {
			t.Errorf("second build: no step %q in %q", s, steps)
		}
	}
	if diff := cmp.Diff([]int{1, 2}, f.sb.counts); diff != "" {
		t.Errorf("build numbers (-want +got):\n%s", diff)
	}
	if !slices.ContainsFunc(f.log.of(Info), func(s string) bool { return strings.HasPrefix(s, "Reusing unchanged layer") }) {
		t.Errorf("second build reused no layer: %q", f.log.of(Info))
	}
	f.checkClean()
}

// checkContainer checks what a phase container is given.
func checkContainer(t *testing.T, cfg sandbox.Config) {
	t.Helper()
	if cfg.UID != 1001 || cfg.GID != 1002 || cfg.Cwd != AppPath {
		t.Errorf("container runs as %d:%d in %s", cfg.UID, cfg.GID, cfg.Cwd)
	}
	if !slices.Contains(cfg.Env, "CNB_PLATFORM_API=0.15") || !slices.Contains(cfg.Env, "CNB_USER_ID=1001") {
		t.Errorf("container env %q", cfg.Env)
	}
	want := map[string]bool{AppPath: false, LayersPath: false, PlatformPath: false, KilnBinPath: true, ConfigPath: true}
	got := map[string]bool{}
	for _, m := range cfg.Mounts {
		got[m.Destination] = m.ReadOnly
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mounts (dest: read-only) (-want +got):\n%s", diff)
	}
	if !slices.Contains(cfg.Args, "--order") || !slices.Contains(cfg.Args, "--target-os") {
		t.Errorf("detect args %q", cfg.Args)
	}
}

func TestRunFailures(t *testing.T) {
	for _, tc := range []struct {
		name      string
		setup     func(f *fixture)
		wantCode  int
		wantPhase string
		wantMsg   string
	}{
		{"detect: no group", func(f *fixture) {
			f.sb.phases["detect"] = failing(failure.DetectNoGroup, DetectErrorRel, "no buildpack group passed detection")
		}, failure.DetectNoGroup, "detect", "no buildpack group passed detection"},
		{"detect: other exit code", func(f *fixture) { f.sb.phases["detect"] = failing(7, "", "") },
			failure.DetectError, "detect", "the detect phase failed with exit code 7"},
		{"detect: no group.toml", func(f *fixture) { f.sb.phases["detect"] = failing(0, "", "") },
			failure.DetectError, "detect", "group.toml"},
		{"detect: no container", func(f *fixture) {
			f.sb.phases["detect"] = func(context.Context, hostDirs) (int, error) { return -1, errors.New("runc: not found") }
		}, failure.SandboxUnavailable, "detect", "runc: not found"},
		{"build: buildpack failed", func(f *fixture) {
			f.sb.phases["build"] = failing(failure.BuildpackFailed, BuildErrorRel, "kiln-test/app: bin/build exited with 3")
		}, failure.BuildpackFailed, "build", "bin/build exited with 3"},
		{"build: phase failed", func(f *fixture) {
			f.sb.phases["build"] = failing(failure.BuildError, BuildErrorRel, "reading plan: bad toml")
		}, failure.BuildError, "build", "reading plan: bad toml"},
		{"build: other exit code", func(f *fixture) { f.sb.phases["build"] = failing(137, "", "") },
			failure.BuildError, "build", "exit code 137"},
		{"build: no metadata.toml", func(f *fixture) { f.sb.phases["build"] = failing(0, "", "") },
			failure.BuildError, "build", "metadata.toml"},
		{"build: layer dir is a symlink", func(f *fixture) {
			f.sb.phases["build"] = func(ctx context.Context, h hostDirs) (int, error) {
				if _, err := f.sb.buildOK(ctx, h); err != nil {
					return -1, err
				}
				return 0, os.Symlink("/etc", filepath.Join(h.layers, "kiln-test_app", "evil"))
			}
		}, failure.BuildError, "build", "/layers/kiln-test_app/evil"},
		{"export: launch layer is a file", func(f *fixture) {
			f.sb.phases["build"] = func(ctx context.Context, h hostDirs) (int, error) {
				if _, err := f.sb.buildOK(ctx, h); err != nil {
					return -1, err
				}
				web := filepath.Join(h.layers, "kiln-test_app", "web")
				if err := os.RemoveAll(web); err != nil {
					return -1, err
				}
				return 0, os.WriteFile(web, []byte("x"), 0o644)
			}
		}, failure.ExportError, "export", "is not a directory"},
		{"export: unknown default process", func(f *fixture) { f.o.DefaultProcess = "worker" },
			failure.ExportError, "export", `default process "worker"`},
		{"export: no launcher", func(f *fixture) { f.o.Launcher = nil }, failure.ExportError, "export", "no launcher"},
		{"export: write fails", func(f *fixture) {
			f.imgs = images{Images: f.iio, writeErr: errors.New("disk full")}
		}, failure.ExportError, "export", "disk full"},
		{"builder: bad reference", func(f *fixture) { f.o.Builder = "Not A Name" }, failure.InvalidInput, "builder", "Not A Name"},
		{"builder: missing", func(f *fixture) { f.o.Builder = "oci:" + filepath.Join(f.t.TempDir(), "none") }, failure.Generic, "builder", "none"},
		{"builder: not a builder", func(f *fixture) { f.o.Builder = runName }, failure.Generic, "builder", "CNB_USER_ID"},
		{"run image: missing", func(f *fixture) { f.o.RunImage = "oci:" + filepath.Join(f.t.TempDir(), "none") }, failure.Generic, "run image", "none"},
		{"run image: bad reference", func(f *fixture) { f.o.RunImage = "Bad Run" }, failure.InvalidInput, "run image", "Bad Run"},
		{"platform: bad env", func(f *fixture) { f.o.Env = []string{"NOVALUE"} }, failure.InvalidInput, "platform", "NOVALUE"},
		{"source: missing", func(f *fixture) { f.o.SourceDir = filepath.Join(f.t.TempDir(), "gone") }, failure.InvalidInput, "source", "gone"},
		{"source: a file", func(f *fixture) { f.o.SourceDir = filepath.Join(f.o.SourceDir, "main.sh") }, failure.InvalidInput, "source", "not a directory"},
		{"buildpacks: unknown", func(f *fixture) { f.o.Buildpacks = []string{"kiln-test/other"} }, failure.InvalidInput, "buildpacks", "kiln-test/other"},
		{"ca-cert: missing file", func(f *fixture) { f.o.CACerts = []string{"/nonexistent/ca.pem"} }, failure.InvalidInput, "ca-cert", "/nonexistent/ca.pem"},
		{"restore: cache image without registry access", func(f *fixture) {
			f.o.CacheImage = "127.0.0.1:1/cache"
			f.imgs = images{Images: f.iio}
		}, failure.RestoreError, "restore", "cannot reach a registry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tc.setup(f)
			_, err := f.run(bg)
			checkFailure(t, err, tc.wantCode, tc.wantPhase, tc.wantMsg)
			if f.output() != nil {
				t.Error("a failed build wrote the image")
			}
			f.checkClean()
		})
	}
}

func checkFailure(t *testing.T, err error, code int, phase, msg string) {
	t.Helper()
	if err == nil {
		t.Fatal("the build did not fail")
	}
	var fe *failure.Error
	if !errors.As(err, &fe) {
		t.Fatalf("error %v carries no phase or code", err)
	}
	if fe.Code != code || phase != "" && fe.Phase != phase || !strings.Contains(err.Error(), msg) {
		t.Errorf("error %q (phase %q, code %d), want phase %q, code %d, naming %q", err, fe.Phase, fe.Code, phase, code, msg)
	}
}

// A failed build gives back the cached layers it took: the next build
// finds them as they were.
func TestFailedBuildKeepsCache(t *testing.T) {
	f := newFixture(t)
	f.mustBuild()
	f.sb.phases["build"] = failing(failure.BuildpackFailed, BuildErrorRel, "boom")
	if _, err := f.run(bg); failure.Code(err) != failure.BuildpackFailed {
		t.Fatalf("failing build: %v", err)
	}
	f.checkClean()
	f.sb.phases["build"] = f.sb.buildOK
	f.mustBuild()
	if diff := cmp.Diff([]int{1, 2}, f.sb.counts); diff != "" {
		t.Errorf("build numbers (-want +got):\n%s", diff)
	}
}

// Cancelling the build at any phase stops it with failure.Interrupted
// (wrapping context.Canceled), writes nothing, and leaves no work dir,
// lock or lost cache behind.
func TestRunCancelled(t *testing.T) {
	for _, phase := range []string{"analyze", "builder", "run image", "prepare", "detect", "restore", "build", "export"} {
		t.Run(phase, func(t *testing.T) {
			f := newFixture(t)
			f.mustBuild() // so restore has a cache and analyze a previous image
			before, err := f.output().Digest()
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(bg)
			defer cancel()
			f.log.onEvent = func(e Event) {
				if e.Phase == phase && e.Kind == Step {
					cancel()
				}
			}
			if phase == "analyze" {
				cancel() // analyze reports only once it is done
			}
			for _, p := range []string{"detect", "build"} {
				if p == phase {
					ok := f.sb.phases[p]
					f.sb.phases[p] = func(ctx context.Context, h hostDirs) (int, error) {
						cancel()
						return blockUntilDone(ctx, ok, h)
					}
				}
			}
			_, err = f.run(ctx)
			f.log.onEvent = nil
			f.sb.phases["detect"], f.sb.phases["build"] = detectOK, f.sb.buildOK
			// The phase that notices may be a later one: a step reports
			// its start before doing its work.
			checkFailure(t, err, failure.Interrupted, "", "nothing was written")
			if !errors.Is(err, context.Canceled) {
				t.Errorf("error %v does not wrap context.Canceled", err)
			}
			if after, _ := f.output().Digest(); after != before {
				t.Error("a cancelled build replaced the image")
			}
			f.checkClean()
			f.mustBuild()
			// The build number keeps counting: the cache was not lost.
			if n := f.sb.counts[len(f.sb.counts)-1]; n < 2 {
				t.Errorf("after a build cancelled in %s, build number %d: the cache was lost", phase, n)
			}
		})
	}
}

// blockUntilDone stands in for a container the sandbox kills when ctx
// ends.
func blockUntilDone(ctx context.Context, _ phaseFunc, _ hostDirs) (int, error) {
	<-ctx.Done()
	return -1, ctx.Err()
}

func TestRunTimeout(t *testing.T) {
	f := newFixture(t)
	// The phases before build are fakes, but a loaded machine (-race,
	// beside the acceptance tests) took over 50 ms for them once.
	f.o.Timeout = 2 * time.Second
	f.sb.phases["build"] = func(ctx context.Context, h hostDirs) (int, error) { return blockUntilDone(ctx, nil, h) }
	_, err := f.run(bg)
	checkFailure(t, err, failure.TimedOut, "build", "longer than its timeout")
	f.checkClean()
}

// The sandbox's notice about protections it could not apply is shown
// once a build, and the containers' output goes to the log as it is.
func TestRunSandboxOutput(t *testing.T) {
	f := newFixture(t)
	for _, p := range []string{"detect", "build"} {
		ok := f.sb.phases[p]
		f.sb.phases[p] = func(ctx context.Context, h hostDirs) (int, error) {
			cfg := f.sb.configs[len(f.sb.configs)-1]
			cfg.Warn("no cgroup limits rootless")
			cfg.Stdout.Write([]byte("output of " + p + "\n"))
			return ok(ctx, h)
		}
	}
	f.mustBuild()
	if diff := cmp.Diff([]string{"no cgroup limits rootless"}, f.log.of(Warning)); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if got := f.log.out.String(); got != "output of detect\noutput of build\n" {
		t.Errorf("output %q", got)
	}
}

// Other destinations and options: a layout is not analyzed, --buildpack
// directories join the build, and a plain Out gets kiln's text log.
func TestRunOptions(t *testing.T) {
	t.Run("layout output", func(t *testing.T) {
		f := newFixture(t)
		dir := filepath.Join(t.TempDir(), "out")
		f.o.Output = imageio.Location{Kind: imageio.Layout, Path: dir, Name: appName}
		res := f.mustBuild()
		f.mustBuild()
		if slices.ContainsFunc(f.log.steps(), func(s string) bool { return strings.HasPrefix(s, "analyze:") }) {
			t.Errorf("a layout output was analyzed: %q", f.log.steps())
		}
		img, err := f.iio.Open(bg, f.o.Output, false)
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := img.Digest(); d != res.Digest {
			t.Errorf("layout holds %s, want %s", d, res.Digest)
		}
	})
	t.Run("buildpack directory", func(t *testing.T) {
		f := newFixture(t)
		dir := filepath.Join(t.TempDir(), "bp")
		writeFile(t, filepath.Join(dir, "buildpack.toml"), "api = \"0.12\"\n[buildpack]\nid = \"kiln-test/extra\"\nversion = \"0.1.0\"\n")
		writeFile(t, filepath.Join(dir, "bin", "detect"), "#!/bin/sh\n")
		writeFile(t, filepath.Join(dir, "bin", "build"), "#!/bin/sh\n")
		f.o.Buildpacks = []string{dir, bpID + "@" + bpVersion}
		f.mustBuild()
		cfg := f.sb.configs[0]
		if !slices.Contains(cfg.Args, ExtraBPPath+":"+"/cnb/buildpacks") {
			t.Errorf("detect args %q lack the extra buildpacks dir", cfg.Args)
		}
		if !slices.ContainsFunc(cfg.Mounts, func(m sandbox.Mount) bool { return m.Destination == ExtraBPPath && m.ReadOnly }) {
			t.Errorf("mounts %+v lack the extra buildpacks dir", cfg.Mounts)
		}
	})
	t.Run("text log", func(t *testing.T) {
		f := newFixture(t)
		var out strings.Builder
		f.o.Log, f.o.Out = nil, &out
		f.o.Env = []string{"B=2", "A=1"}
		f.o.ClearCache = true
		f.mustBuild()
		for _, s := range []string{"===> DETECTING\n", "===> BUILDING\n", "===> IMAGE " + appName + "@sha256:", "Adding layer app\n"} {
			if !strings.Contains(out.String(), s) {
				t.Errorf("output lacks %q:\n%s", s, out.String())
			}
		}
	})
	t.Run("previous image is not an app image", func(t *testing.T) {
		f := newFixture(t)
		f.put(appName, randomImage(t))
		f.mustBuild()
		if !slices.ContainsFunc(f.log.of(Info), func(s string) bool { return strings.Contains(s, "not a buildpacks app image") }) {
			t.Errorf("no word about the previous image: %q", f.log.of(Info))
		}
	})
}

func TestTextLog(t *testing.T) {
	var b strings.Builder
	l := NewTextLog(&b)
	l.Event(Event{Phase: "detect", Kind: Step, Message: "DETECTING"})
	l.Event(Event{Phase: "restore", Kind: Warning, Message: "cache: gone"})
	l.Event(Event{Phase: "export", Kind: Info, Message: "Adding layer app"})
	l.Write([]byte("raw\n"))
	w := infoLines(l, "export")
	w.Write([]byte("one\ntw"))
	w.Write([]byte("o\n"))
	want := "===> DETECTING\nwarning: cache: gone\nAdding layer app\nraw\none\ntwo\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("text (-want +got):\n%s", diff)
	}
	NewTextLog(nil).Event(Event{Message: "discarded"})
}

// The cache is restored before detect: the container gets the restored
// buildpack dirs as --restored and removes those of buildpacks detect did
// not choose, so build sees what a restore of its group alone gives.
func TestRestoredBeforeDetect(t *testing.T) {
	f := newFixture(t)
	f.mustBuild()
	f.mustBuild()
	bpDir := descriptor.EscapeID(bpID)
	if args := f.sb.configs[len(f.sb.configs)-1].Args; !slices.Contains(args, bpDir) {
		t.Errorf("warm build: %s not passed as restored: %q", bpDir, args)
	}
	if len(f.sb.dropped) != 0 {
		t.Errorf("same group: dropped %q", f.sb.dropped)
	}
	// detect now chooses another buildpack: the restored dir goes before
	// build runs.
	var sawOld bool
	f.sb.phases["detect"] = func(_ context.Context, h hostDirs) (int, error) {
		return 0, descriptor.WriteGroup(filepath.Join(h.layers, descriptor.GroupFile),
			[]descriptor.GroupEntry{{ID: "kiln-test/other", Version: "1", API: "0.12"}})
	}
	f.sb.phases["build"] = func(_ context.Context, h hostDirs) (int, error) {
		_, err := os.Stat(filepath.Join(h.layers, bpDir))
		sawOld = err == nil
		return failing(failure.BuildpackFailed, BuildErrorRel, "other: failed")(bg, h)
	}
	_, err := f.run(bg)
	checkFailure(t, err, failure.BuildpackFailed, "build", "other: failed")
	if diff := cmp.Diff([]string{bpDir}, f.sb.dropped); diff != "" {
		t.Errorf("dropped (-want +got):\n%s", diff)
	}
	if sawOld {
		t.Error("build saw the restored layers of a buildpack detect did not choose")
	}
	f.checkClean()
}
