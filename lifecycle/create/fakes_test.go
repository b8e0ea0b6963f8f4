package create

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/kiln-build/kiln/internal/cache"
	"github.com/kiln-build/kiln/lifecycle/builder"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/launch"
	"github.com/kiln-build/kiln/lifecycle/sandbox"
)

var bg = context.Background()

const (
	bpID        = "kiln-test/app"
	bpVersion   = "1.0.0"
	builderName = "kiln-test/builder:latest"
	runName     = "kiln-test/run:latest"
	appName     = "kiln-test/app:latest"
)

// fixture is a build with fakes for the containers: a local store holding
// a builder (a random build image plus one buildpack) and a random run
// image, an app source, and a sandbox that writes what detect and build
// would.
type fixture struct {
	t     *testing.T
	store *imageio.LocalStore
	iio   *imageio.IO
	imgs  Images // what the build reads and writes images through: iio
	sb    *fakeSandbox
	log   *recLog
	o     Options
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	store, err := imageio.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, store: store, iio: imageio.New(store), sb: newFakeSandbox(), log: &recLog{}}
	f.imgs = f.iio
	f.put(builderName, testBuilder(t))
	f.put(runName, randomImage(t))
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "main.sh"), "echo hi\n")
	f.o = Options{
		Name:       appName,
		Output:     imageio.Location{Kind: imageio.Store, Name: appName},
		SourceDir:  src,
		Builder:    builderName,
		KilnBinary: "/nonexistent/kiln",
		Launcher:   []byte("launcher"),
		CacheDir:   t.TempDir(),
		Sandbox:    f.sb,
		Log:        f.log,
	}
	return f
}

func (f *fixture) put(name string, img v1.Image) {
	f.t.Helper()
	if err := f.store.Put(bg, name, img); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) run(ctx context.Context) (*Result, error) {
	f.log.reset()
	return Run(ctx, f.imgs, f.o)
}

// mustBuild runs a build that has to succeed.
func (f *fixture) mustBuild() *Result {
	f.t.Helper()
	res, err := f.run(bg)
	if err != nil {
		f.t.Fatalf("build: %v\nlog:\n%s", err, f.log.text())
	}
	return res
}

// output is the app image in the store, or nil.
func (f *fixture) output() v1.Image {
	img, err := f.store.Image(appName)
	if errors.Is(err, imageio.ErrNotFound) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return img
}

// checkClean checks that a build left no work dir and no cache lock.
func (f *fixture) checkClean() {
	f.t.Helper()
	entries, err := os.ReadDir(filepath.Join(f.o.CacheDir, "work"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		f.t.Fatal(err)
	}
	if len(entries) > 0 {
		f.t.Errorf("the build left %d entries in the work dir", len(entries))
	}
	ctx, cancel := context.WithTimeout(bg, 0)
	defer cancel()
	c, err := cache.Open(ctx, cacheDirFor(f.o.CacheDir, f.o.Name))
	if err != nil {
		f.t.Errorf("the cache is still locked: %v", err)
		return
	}
	c.Close()
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
}

func randomImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// testBuilder is a builder made as kiln makes one: a build image (random
// layers, the CNB user in its env) and one buildpack, naming runName as
// its run image.
func testBuilder(t *testing.T) v1.Image {
	t.Helper()
	base := randomImage(t)
	cf, err := base.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config.Env = []string{"PATH=/usr/bin:/bin", "CNB_USER_ID=1001", "CNB_GROUP_ID=1002"}
	if base, err = mutate.ConfigFile(base, cf); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "bp")
	writeFile(t, filepath.Join(dir, "buildpack.toml"), fmt.Sprintf("api = \"0.12\"\n[buildpack]\nid = %q\nversion = %q\n", bpID, bpVersion))
	writeFile(t, filepath.Join(dir, "bin", "detect"), "#!/bin/sh\n")
	writeFile(t, filepath.Join(dir, "bin", "build"), "#!/bin/sh\n")
	bp, err := descriptor.ReadBuildpack(dir)
	if err != nil {
		t.Fatal(err)
	}
	img, err := builder.Create(bg, base, builder.CreateOptions{
		Buildpacks: []*descriptor.Buildpack{bp},
		Order:      descriptor.Order{{Group: []descriptor.GroupEntry{{ID: bpID, Version: bpVersion}}}},
		Run:        builder.RunImages{Images: []builder.RunImage{{Image: runName}}},
		TempDir:    t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// hostDirs are the host dirs a phase container gets mounted.
type hostDirs struct{ layers, app, platform string }

// phaseFunc stands in for `kiln phase <name>` in the container.
type phaseFunc func(ctx context.Context, h hostDirs) (int, error)

// fakeSandbox runs phases as functions on the host: no container.
type fakeSandbox struct {
	mu      sync.Mutex
	phases  map[string]phaseFunc
	configs []sandbox.Config
	// counts are the build numbers the build phase saw.
	counts []int
	// dropped are the restored dirs detect-build removed.
	dropped []string
}

var _ Sandbox = (*fakeSandbox)(nil)

func newFakeSandbox() *fakeSandbox {
	f := &fakeSandbox{}
	f.phases = map[string]phaseFunc{"detect": detectOK, "build": f.buildOK}
	return f
}

func (f *fakeSandbox) Run(ctx context.Context, cfg sandbox.Config) (int, error) {
	f.mu.Lock()
	f.configs = append(f.configs, cfg)
	f.mu.Unlock()
	if len(cfg.Args) < 3 || cfg.Args[0] != KilnBinPath || cfg.Args[1] != "phase" {
		return -1, fmt.Errorf("fake sandbox: unexpected command %q", cfg.Args)
	}
	var h hostDirs
	for _, m := range cfg.Mounts {
		switch m.Destination {
		case LayersPath:
			h.layers = m.Source
		case AppPath:
			h.app = m.Source
		case PlatformPath:
			h.platform = m.Source
		}
	}
	if cfg.Args[2] == "detect-build" {
		return f.detectBuild(ctx, cfg, h)
	}
	fn, ok := f.phases[cfg.Args[2]]
	if !ok {
		return -1, fmt.Errorf("fake sandbox: no phase %q", cfg.Args[2])
	}
	return fn(ctx, h)
}

// detectBuild does what `kiln phase detect-build` does with the fake
// detect and build: detect, removal of the restored dirs of buildpacks not
// chosen, the BUILDING marker, build.
func (f *fakeSandbox) detectBuild(ctx context.Context, cfg sandbox.Config, h hostDirs) (int, error) {
	code, err := f.phases["detect"](ctx, h)
	if err != nil || code != 0 {
		return code, err
	}
	group, err := descriptor.ReadGroup(filepath.Join(h.layers, descriptor.GroupFile))
	if err != nil {
		return failing(failure.DetectError, DetectErrorRel, err.Error())(ctx, h)
	}
	chosen := map[string]bool{}
	for _, g := range group {
		chosen[descriptor.EscapeID(g.ID)] = true
	}
	for i, a := range cfg.Args {
		if a == "--restored" && i+1 < len(cfg.Args) && !chosen[cfg.Args[i+1]] {
			f.mu.Lock()
			f.dropped = append(f.dropped, cfg.Args[i+1])
			f.mu.Unlock()
			if err := os.RemoveAll(filepath.Join(h.layers, cfg.Args[i+1])); err != nil {
				return -1, err
			}
		}
	}
	if cfg.Stdout != nil {
		cfg.Stdout.Write([]byte("===> BUILDING\n"))
	}
	return f.phases["build"](ctx, h)
}

func (f *fakeSandbox) phaseNames() []string {
	var out []string
	for _, c := range f.configs {
		out = append(out, c.Args[2])
	}
	return out
}

// detectOK writes the group bin/detect would choose.
func detectOK(_ context.Context, h hostDirs) (int, error) {
	return 0, descriptor.WriteGroup(filepath.Join(h.layers, descriptor.GroupFile),
		[]descriptor.GroupEntry{{ID: bpID, Version: bpVersion, API: "0.12"}})
}

// buildOK writes what the buildpack's bin/build would: a cache layer that
// counts builds, a launch layer, and config/metadata.toml.
func (f *fakeSandbox) buildOK(_ context.Context, h hostDirs) (int, error) {
	bp := filepath.Join(h.layers, descriptor.EscapeID(bpID))
	n := 0
	if b, err := os.ReadFile(filepath.Join(bp, "deps", "count")); err == nil {
		if n, err = strconv.Atoi(string(b)); err != nil {
			return -1, err
		}
	}
	n++
	f.mu.Lock()
	f.counts = append(f.counts, n)
	f.mu.Unlock()
	files := map[string]string{
		"deps.toml":   "[types]\ncache = true\n",
		"deps/count":  strconv.Itoa(n),
		"web.toml":    "[types]\nlaunch = true\n[metadata]\nversion = \"1\"\n",
		"web/bin/web": "a fake program\n",
	}
	for p, content := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(bp, p)), 0o755); err != nil {
			return -1, err
		}
		if err := os.WriteFile(filepath.Join(bp, p), []byte(content), 0o755); err != nil {
			return -1, err
		}
	}
	if err := os.MkdirAll(filepath.Join(h.layers, "config"), 0o755); err != nil {
		return -1, err
	}
	if err := asCNBUser(h.layers, bp); err != nil {
		return -1, err
	}
	return 0, launch.WriteMetadata(filepath.Join(h.layers, "config", "metadata.toml"), launch.Metadata{
		BuildpackDefaultProcessType: "web",
		Buildpacks:                  []launch.MetadataBuildpack{{ID: bpID, Version: bpVersion, API: "0.12"}},
		Processes:                   []launch.MetadataProcess{{Type: "web", Command: []string{"web"}, Direct: true, BuildpackID: bpID}},
	})
}

// asCNBUser gives the tree at p to the owner of the layers dir, as if the
// CNB user in the container had written it.
func asCNBUser(layers, p string) error {
	fi, err := os.Stat(layers)
	if err != nil {
		return err
	}
	st := fi.Sys().(*syscall.Stat_t)
	return filepath.WalkDir(p, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(st.Uid), int(st.Gid))
	})
}

// failing is a phase that exits with code, leaving msg as its error file
// (as `kiln phase` does).
func failing(code int, errFile, msg string) phaseFunc {
	return func(_ context.Context, h hostDirs) (int, error) {
		if msg != "" {
			p := filepath.Join(h.layers, errFile)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return -1, err
			}
			if err := os.WriteFile(p, []byte(msg+"\n"), 0o644); err != nil {
				return -1, err
			}
		}
		return code, nil
	}
}

// recLog records a build's events and output.
type recLog struct {
	mu      sync.Mutex
	events  []Event
	out     strings.Builder
	onEvent func(Event)
}

var _ Log = (*recLog)(nil)

func (l *recLog) Event(e Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	hook := l.onEvent
	l.mu.Unlock()
	if hook != nil {
		hook(e)
	}
}

func (l *recLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out.Write(p)
}

func (l *recLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = nil
	l.out.Reset()
}

// steps are the Step events as "phase: message", digests cut.
func (l *recLog) steps() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.events {
		if e.Kind == Step {
			msg := e.Message
			if i := strings.Index(msg, "sha256:"); i >= 0 {
				msg = msg[:i+len("sha256:")] + "…" + msg[min(len(msg), i+len("sha256:")+64):]
			}
			out = append(out, e.Phase+": "+msg)
		}
	}
	return out
}

// of returns the messages of kind k.
func (l *recLog) of(k EventKind) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.events {
		if e.Kind == k {
			out = append(out, e.Message)
		}
	}
	return out
}

func (l *recLog) text() string {
	var b strings.Builder
	tl := NewTextLog(&b)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		tl.Event(e)
	}
	return b.String() + l.out.String()
}

// images wraps Images, failing chosen calls.
type images struct {
	Images
	writeErr error
}

func (i images) Write(ctx context.Context, loc imageio.Location, img v1.Image) error {
	if i.writeErr != nil {
		return i.writeErr
	}
	return i.Images.Write(ctx, loc, img)
}
