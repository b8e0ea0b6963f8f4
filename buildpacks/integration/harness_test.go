package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-build/kiln/buildpacks"
	"github.com/kiln-build/kiln/detect"
	"github.com/kiln-build/kiln/internal/buildphase"
	"github.com/kiln-build/kiln/internal/env"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/launch"
)

// buildpacksRoot is the <buildpacks> directory (laid out
// <escaped id>/<version>) that TestMain fills.
var buildpacksRoot string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		tmp, err := os.MkdirTemp("", "kiln-bp-integration-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(tmp)
		packaged := filepath.Join(tmp, "packaged")
		if err := buildpacks.Package(context.Background(), packaged); err != nil {
			fmt.Fprintln(os.Stderr, "packaging the buildpacks:", err)
			return 1
		}
		buildpacksRoot = filepath.Join(tmp, "cnb", "buildpacks")
		for i, dir := range buildpacks.Dirs(packaged) {
			link := filepath.Join(buildpacksRoot, descriptor.EscapeID(buildpacks.ID(buildpacks.Names[i])), buildpacks.Version)
			if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			if err := os.Symlink(dir, link); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		return m.Run()
	}())
}

// downloadCache is shared by all test runs on the machine.
func downloadCache(t *testing.T) string {
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	d := filepath.Join(home, ".cache", "kiln-test", "downloads")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// defaultOrder turns the buildpacks' default order into order.toml's
// shape.
func defaultOrder() descriptor.Order {
	var o descriptor.Order
	for _, g := range buildpacks.DefaultOrder() {
		var grp descriptor.Group
		for _, e := range g {
			grp.Group = append(grp.Group, descriptor.GroupEntry{ID: e.ID, Version: e.Version, Optional: e.Optional})
		}
		o = append(o, grp)
	}
	return o
}

// target is the run image the tests build for.
var target = descriptor.RunTarget{OS: "linux", Arch: "amd64", DistroName: "debian", DistroVersion: "12"}

// site is one app build area: the directories a build container has.
type site struct {
	t                          *testing.T
	app, layers, platform, cfg string
	// image holds the launch-only layers restore took out, as the
	// previous app image would: a buildpack that keeps one (writes its
	// .toml without the dir) gets it back from there, as the exporter
	// reuses the previous image's layer.
	image string
}

func newSite(t *testing.T, platformEnv map[string]string) *site {
	t.Helper()
	root := t.TempDir()
	s := &site{
		t:        t,
		app:      filepath.Join(root, "workspace"),
		layers:   filepath.Join(root, "layers"),
		platform: filepath.Join(root, "platform"),
		cfg:      filepath.Join(root, "build-config"),
		image:    filepath.Join(root, "previous-image"),
	}
	for _, d := range []string{s.layers, filepath.Join(s.platform, "env")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	vars := map[string]string{"BP_DOWNLOAD_CACHE": downloadCache(t)}
	for k, v := range platformEnv {
		vars[k] = v
	}
	for k, v := range vars {
		if err := os.WriteFile(filepath.Join(s.platform, "env", k), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// putSource replaces the app directory with a copy of src, after edit
// has been applied to the named files.
func (s *site) putSource(src string, edits map[string][2]string) {
	s.t.Helper()
	if err := os.RemoveAll(s.app); err != nil {
		s.t.Fatal(err)
	}
	if err := os.CopyFS(s.app, os.DirFS(src)); err != nil {
		s.t.Fatal(err)
	}
	for name, e := range edits {
		p := filepath.Join(s.app, name)
		b, err := os.ReadFile(p)
		if err != nil {
			s.t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(e[0])) {
			s.t.Fatalf("%s does not contain %q", name, e[0])
		}
		if err := os.WriteFile(p, bytes.Replace(b, []byte(e[0]), []byte(e[1]), 1), 0o644); err != nil {
			s.t.Fatal(err)
		}
	}
}

// outcome is what a detect+build produced.
type outcome struct {
	group    []string
	log      string
	meta     launch.Metadata
	buildErr error
}

// build runs the detect and build phases on the app.
func (s *site) build(ctx context.Context) outcome {
	s.t.Helper()
	var log bytes.Buffer
	lookup := descriptor.NewLookup(buildpacksRoot)
	res, err := detect.Run(ctx, detect.Options{
		Order: defaultOrder(), Buildpacks: lookup,
		AppDir: s.app, PlatformDir: s.platform, BuildConfigDir: s.cfg,
		Target: target, Log: &log,
	})
	if err != nil {
		s.t.Fatalf("detect: %v\n%s", err, log.String())
	}
	var o outcome
	for _, g := range res.Group {
		o.group = append(o.group, g.ID)
	}
	for _, b := range res.Report.Buildpacks {
		if len(b.Output) > 0 {
			fmt.Fprintf(&log, "[detect %s] %s", b.ID, b.Output)
		}
	}
	r, err := buildphase.Run(ctx, buildphase.Options{
		AppDir: s.app, LayersDir: s.layers, PlatformDir: s.platform,
		BuildpacksDir: buildpacksRoot, BuildConfigDir: s.cfg,
		Group: res.Group, Plan: res.Plan,
		BaseEnv: os.Environ(), Target: target, Output: &log,
	})
	o.log, o.meta, o.buildErr = log.String(), r.Metadata, err
	return o
}

// mustBuild is build that fails the test on a build error.
func (s *site) mustBuild(ctx context.Context) outcome {
	s.t.Helper()
	o := s.build(ctx)
	if o.buildErr != nil {
		s.t.Fatalf("build: %v\n%s", o.buildErr, o.log)
	}
	s.reuseFromImage()
	return o
}

// reuseFromImage puts back the launch layers the build kept from the
// previous image: a launch .toml without its dir.
func (s *site) reuseFromImage() {
	s.t.Helper()
	kept, _ := filepath.Glob(filepath.Join(s.image, "*", "*"))
	for _, from := range kept {
		rel, _ := filepath.Rel(s.image, from)
		to := filepath.Join(s.layers, rel)
		l, err := launch.ReadLayer(to + ".toml")
		if err != nil || !l.Types.Launch {
			continue
		}
		if _, err := os.Lstat(to); err == nil {
			continue
		}
		if err := os.Rename(from, to); err != nil {
			s.t.Fatal(err)
		}
	}
}

// intoImage moves a launch layer's dir aside as the previous image's.
func (s *site) intoImage(bp, layer string) error {
	dst := filepath.Join(s.image, bp, layer)
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	err := os.Rename(filepath.Join(s.layers, bp, layer), dst)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// restore leaves the layers directory as the restorer of the next build
// would: cached layers keep their contents and metadata (without
// [types]); launch-only layers keep their metadata but not their
// contents; everything else, launch.toml, build.toml and config/ go.
func (s *site) restore() {
	s.t.Helper()
	entries, err := os.ReadDir(s.layers)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, bp := range entries {
		dir := filepath.Join(s.layers, bp.Name())
		if bp.Name() == "config" || !bp.IsDir() {
			os.RemoveAll(dir)
			continue
		}
		files, _ := os.ReadDir(dir)
		for _, f := range files {
			name := f.Name()
			p := filepath.Join(dir, name)
			base, isToml := strings.CutSuffix(name, ".toml")
			switch {
			case name == "launch.toml" || name == "build.toml" || name == "store.toml":
				os.Remove(p)
			case isToml:
				l, err := launch.ReadLayer(p)
				if err != nil {
					s.t.Fatal(err)
				}
				switch {
				case l.Types.Cache:
					err = launch.WriteLayerMetadataOnly(p, l)
				case l.Types.Launch:
					err = launch.WriteLayerMetadataOnly(p, l)
					if err == nil {
						err = s.intoImage(bp.Name(), base)
					}
				default:
					os.Remove(p)
					os.RemoveAll(filepath.Join(dir, base))
				}
				if err != nil {
					s.t.Fatal(err)
				}
			case strings.HasSuffix(name, ".ignore"):
				os.RemoveAll(p)
			}
		}
	}
}

// layerTypes reads the [types] of every layer of buildpack id.
func (s *site) layerTypes(id string) map[string]launch.LayerTypes {
	s.t.Helper()
	dir := filepath.Join(s.layers, descriptor.EscapeID(id))
	out := map[string]launch.LayerTypes{}
	files, _ := filepath.Glob(filepath.Join(dir, "*.toml"))
	for _, f := range files {
		base := strings.TrimSuffix(filepath.Base(f), ".toml")
		if base == "launch" || base == "build" || base == "store" {
			continue
		}
		l, err := launch.ReadLayer(f)
		if err != nil {
			s.t.Fatal(err)
		}
		out[base] = l.Types
	}
	return out
}

// runImagePath is the PATH of a Debian run image.
const runImagePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// launchEnv is the environment the launcher would give process typ:
// a run image's base variables, then every buildpack's launch layers.
func (s *site) launchEnv(o outcome, typ string) *env.Env {
	s.t.Helper()
	e := env.New([]string{"PATH=" + runImagePath, "HOME=" + s.t.TempDir(), "LANG=C.UTF-8"})
	for _, id := range o.group {
		var dirs []string
		for name, types := range s.layerTypes(id) {
			if types.Launch {
				dirs = append(dirs, filepath.Join(s.layers, descriptor.EscapeID(id), name))
			}
		}
		if err := e.AddBuildpackLayers(env.Launch, typ, dirs); err != nil {
			s.t.Fatal(err)
		}
	}
	return e
}

// serve starts the default process on a free port and returns its base
// URL; the process is stopped when the test ends.
func (s *site) serve(o outcome) string {
	s.t.Helper()
	typ := o.meta.BuildpackDefaultProcessType
	p, ok := o.meta.Process(typ)
	if !ok {
		s.t.Fatalf("no default process (%q) in %+v", typ, o.meta.Processes)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	e := s.launchEnv(o, typ)
	e.Set("PORT", fmt.Sprint(port))
	argv := append(append([]string{}, p.Command...), p.Args...)
	bin := argv[0]
	if !strings.Contains(bin, "/") {
		// direct processes are looked up on the launch PATH
		found := ""
		for _, d := range filepath.SplitList(e.Get("PATH")) {
			if fi, err := os.Stat(filepath.Join(d, bin)); err == nil && !fi.IsDir() {
				found = filepath.Join(d, bin)
				break
			}
		}
		if found == "" {
			s.t.Fatalf("%s is not on the launch PATH %s", bin, e.Get("PATH"))
		}
		bin = found
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, argv[1:]...)
	cmd.Dir = s.app
	if p.WorkingDir != "" {
		cmd.Dir = p.WorkingDir
	}
	cmd.Env = e.Environ()
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting %v: %v", argv, err)
	}
	s.t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url + "/")
		if err == nil {
			resp.Body.Close()
			return url
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("process %v did not answer on port %d:\n%s", argv, port, out.String())
	return ""
}

// get fetches url and returns status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// sample returns the path of a sample app.
func sample(name string) string { return filepath.Join("..", "..", "samples", name) }

func exists(p string) bool {
	_, err := os.Lstat(p)
	return !errors.Is(err, fs.ErrNotExist)
}
