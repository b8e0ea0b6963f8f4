//go:build acceptance

package acceptance

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/stacks/debian"
	"github.com/kiln-build/kiln/stacks/sbom"
	"github.com/kiln-build/kiln/stacks/stack"
)

// shippedStackDir is kiln's default stack recipe.
const shippedStackDir = "../stacks/debian-bookworm"

// shipped is the debian-bookworm stack built once per run by `kiln stack
// build --publish` into the shared registry. Its images come from the
// stack cache shared across runs (stackCacheDir), so only the first run
// on a machine, or a changed recipe, runs mmdebstrap.
var shipped struct {
	once               sync.Once
	err                error
	out                string
	build, run         string // registry references
	buildImg, runImg   v1.Image
	buildTime, runTime time.Duration
}

// shippedStack builds the shipped stack once and returns it, failing t if
// that build failed.
func shippedStack(t testing.TB) {
	t.Helper()
	shipped.once.Do(func() {
		cache, err := stackCacheDir()
		if err != nil {
			shipped.err = err
			return
		}
		// Every later kiln (the default builder included) shares the
		// stack cache.
		os.Setenv("KILN_STACK_CACHE", cache)
		shipped.build = env.reg.Host + "/kiln-test/bookworm-build:latest"
		shipped.run = env.reg.Host + "/kiln-test/bookworm-run:latest"
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, env.kiln, "stack", "build", shippedStackDir,
			"--tag-build", shipped.build, "--tag-run", shipped.run, "--publish")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, io.MultiWriter(&stderr, &prefixLog{prefix: "stack build: "})
		err = cmd.Run()
		shipped.out = stdout.String() + stderr.String()
		if err != nil {
			shipped.err = fmt.Errorf("kiln stack build %s: %v\n%s", shippedStackDir, err, shipped.out)
			return
		}
		// The images fetch their layers lazily, after ctx is gone.
		iio := imageio.New(nil)
		if shipped.buildImg, err = iio.Remote(context.Background(), shipped.build); err != nil {
			shipped.err = err
			return
		}
		shipped.runImg, shipped.err = iio.Remote(context.Background(), shipped.run)
	})
	if shipped.err != nil {
		t.Fatal(shipped.err)
	}
}

// TestStackBuild checks the shipped stack's images: base labels, the CNB
// user, the SBOM, what each image holds and the run image's size.
func TestStackBuild(t *testing.T) {
	shippedStack(t)
	wantContains(t, shipped.out, "build image: "+shipped.build, "run image: "+shipped.run, "compressed")

	for _, img := range []struct {
		kind string
		img  v1.Image
	}{{"build", shipped.buildImg}, {"run", shipped.runImg}} {
		t.Run(img.kind, func(t *testing.T) {
			cfg, err := img.img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			l := cfg.Config.Labels
			for k, want := range map[string]string{
				"io.buildpacks.base.id":             "io.kiln.stacks.debian-bookworm",
				"io.buildpacks.stack.id":            "io.kiln.stacks.debian-bookworm",
				"io.buildpacks.base.distro.name":    "debian",
				"io.buildpacks.base.distro.version": "12",
				"io.buildpacks.base.maintainer":     "kiln",
				"io.buildpacks.base.homepage":       "https://github.com/kiln-build/kiln",
				"io.buildpacks.rebasable":           "true",
			} {
				if l[k] != want {
					t.Errorf("label %s = %q, want %q", k, l[k], want)
				}
			}
			released, err := time.Parse(time.RFC3339, l["io.buildpacks.base.released"])
			if err != nil || !released.Equal(cfg.Created.Time) || released.Year() < 2023 {
				t.Errorf("io.buildpacks.base.released = %q (created %s): %v", l["io.buildpacks.base.released"], cfg.Created, err)
			}
			if !strings.Contains(l["io.buildpacks.base.description"], img.kind+" image") {
				t.Errorf("description %q", l["io.buildpacks.base.description"])
			}
			if cfg.Config.User != "1000:1000" {
				t.Errorf("User = %q, want the CNB user 1000:1000", cfg.Config.User)
			}
			for _, e := range []string{"CNB_USER_ID=1000", "CNB_GROUP_ID=1000", "CNB_STACK_ID=io.kiln.stacks.debian-bookworm", "LANG=C.UTF-8"} {
				if !slices.Contains(cfg.Config.Env, e) {
					t.Errorf("env lacks %s: %v", e, cfg.Config.Env)
				}
			}
			fs := imageFiles(t, img.img, "etc/passwd", sbom.Path)
			passwd := string(fs.content(t, "etc/passwd"))
			if !strings.Contains(passwd, "\ncnb:x:1000:1000:") && !strings.Contains(passwd, "\ncnb:*:1000:1000:") {
				t.Errorf("/etc/passwd has no CNB user:\n%s", passwd)
			}
			for _, d := range []string{"workspace", "layers", "platform", "home/cnb"} {
				if h := fs.headers[d]; h == nil || h.Uid != 1000 || h.Gid != 1000 {
					t.Errorf("/%s is %+v, want a directory owned by 1000:1000", d, h)
				}
			}
			if fs.headers["etc/ssl/certs/ca-certificates.crt"] == nil {
				t.Error("no CA bundle")
			}

			// The SBOM: in its own layer, named by the label, listing
			// the same packages as the package label.
			layers, err := img.img.Layers()
			if err != nil {
				t.Fatal(err)
			}
			top, _ := layers[len(layers)-1].DiffID()
			if l[stack.LabelSBOM] != top.String() {
				t.Errorf("%s = %q, want the top layer %s", stack.LabelSBOM, l[stack.LabelSBOM], top)
			}
			fromSBOM, err := sbom.Decode(fs.content(t, sbom.Path))
			if err != nil {
				t.Fatal(err)
			}
			fromLabel, err := debian.Packages(img.img)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(fromLabel, fromSBOM); diff != "" {
				t.Errorf("SBOM and label disagree (-label +sbom):\n%s", diff)
			}
			if !containsPackage(fromLabel, "libc6") || !containsPackage(fromLabel, "ca-certificates") {
				t.Errorf("package list lacks libc6 or ca-certificates: %v", fromLabel)
			}
		})
	}

	t.Run("run image has no shell or package manager", func(t *testing.T) {
		fs := imageFiles(t, shipped.runImg)
		for _, p := range []string{"bin/sh", "bin/bash", "bin/dash", "usr/bin/dpkg", "usr/bin/apt", "usr/bin/apt-get", "usr/bin/perl"} {
			if fs.headers[p] != nil {
				t.Errorf("run image has /%s", p)
			}
		}
		for name, h := range fs.headers {
			for _, dir := range []string{"bin/", "sbin/", "usr/bin/", "usr/sbin/"} {
				if strings.HasPrefix(name, dir) && h.Typeflag != tar.TypeDir {
					t.Errorf("run image has program /%s", name)
				}
			}
		}
		for _, p := range []string{"etc/services", "etc/protocols", "usr/share/zoneinfo/Etc/UTC", "var/lib/dpkg/status"} {
			if fs.headers[p] == nil {
				t.Errorf("run image lacks /%s", p)
			}
		}
		if libcPath(fs) == "" {
			t.Error("run image has no libc.so.6")
		}
	})
	t.Run("build image has the build tools", func(t *testing.T) {
		fs := imageFiles(t, shipped.buildImg)
		for _, p := range []string{"bin/bash", "usr/bin/gcc", "usr/bin/make", "usr/bin/git", "usr/bin/curl", "usr/bin/xz", "bin/tar", "usr/bin/python3", "usr/include/stdio.h"} {
			if fs.resolve(p) == nil {
				t.Errorf("build image lacks /%s", p)
			}
		}
	})
	t.Run("sizes", func(t *testing.T) {
		run := compressedSize(t, shipped.runImg)
		build := compressedSize(t, shipped.buildImg)
		t.Logf("compressed sizes: run image %.1f MB, build image %.1f MB", float64(run)/1e6, float64(build)/1e6)
		if run >= 40e6 {
			t.Errorf("run image is %d bytes compressed, want under 40 MB", run)
		}
	})
}

// TestStackRunImageRuns starts the run image's libc (an executable that
// prints its version) as the CNB user with real runc, and checks there is
// no shell to start.
func TestStackRunImageRuns(t *testing.T) {
	shippedStack(t)
	libc := libcPath(imageFiles(t, shipped.runImg))
	if libc == "" {
		t.Fatal("run image has no libc.so.6")
	}
	out := mustKiln(t, "run", "--entrypoint", "/"+libc, shipped.run)
	wantContains(t, out, "GNU C Library (Debian GLIBC")
	r := kiln(t, "run", "--entrypoint", "/bin/sh", shipped.run, "--", "-c", "echo shell")
	if r.code == 0 || strings.Contains(r.out, "\nshell") {
		t.Errorf("/bin/sh ran in the run image (exit %d)", r.code)
	}
}

// TestStackReproducible rebuilds the run image with an empty cache and
// compares digests: the same recipe and the same package versions must
// give the same image.
func TestStackReproducible(t *testing.T) {
	shippedStack(t)
	ctx := context.Background()
	s, err := stack.Read(shippedStackDir)
	if err != nil {
		t.Fatal(err)
	}
	_, recipe := s.Recipes()
	build := func(cacheDir string, refresh bool) v1.Image {
		t.Helper()
		base, err := debian.Build(ctx, recipe, debian.Options{CacheDir: cacheDir, Refresh: refresh, Log: &prefixLog{prefix: "reproducible: "}})
		if err != nil {
			t.Fatal(err)
		}
		img, err := stack.WithSBOM(ctx, base, s.File.ID, "run")
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	fresh := build(t.TempDir(), false)
	want := shipped.runImg
	freshPkgs, err := debian.Packages(fresh)
	if err != nil {
		t.Fatal(err)
	}
	cachedPkgs, err := debian.Packages(want)
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(freshPkgs, cachedPkgs) {
		// The mirror has moved on since the shared cache was filled:
		// refresh the cache entry and compare with that.
		t.Logf("package versions changed since the cached build:\n%s", cmp.Diff(cachedPkgs, freshPkgs))
		cache, err := stackCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		want = build(cache, true)
	}
	d1, _ := want.Digest()
	d2, _ := fresh.Digest()
	if d1 != d2 {
		c1, _ := want.RawConfigFile()
		c2, _ := fresh.RawConfigFile()
		t.Errorf("a rebuild from the same packages gave %s, the cached build %s; configs:\n%s", d2, d1, cmp.Diff(string(c1), string(c2)))
	}
}

// TestStackBadInput: mistakes in a stack recipe get one error naming the
// file and the entry, exit code 2, and nothing is written.
func TestStackBadInput(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(shippedStackDir, stack.FileName))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		edit  func(string) string
		wants []string
	}{
		{"unknown key", func(s string) string {
			return strings.Replace(s, "[run]\n", "[run]\npakages = [\"x\"]\n", 1)
		}, []string{"stack.toml: unknown key run.pakages"}},
		{"missing package", func(s string) string {
			return strings.Replace(s, `  "tzdata",`, `  "tzdata",`+"\n"+`  "kiln-no-such-package",`, 1)
		}, []string{"stack.toml: [run] packages: \"kiln-no-such-package\""}},
		{"unknown suite", func(s string) string {
			return strings.Replace(s, `suite = "bookworm"`, `suite = "kiln-no-such-suite"`, 1)
		}, []string{"stack.toml: suite: \"kiln-no-such-suite\"", "not a suite"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "broken")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			text := tt.edit(string(good))
			if text == string(good) {
				t.Fatal("the edit changed nothing")
			}
			if err := os.WriteFile(filepath.Join(dir, stack.FileName), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			outB, outR := filepath.Join(t.TempDir(), "b"), filepath.Join(t.TempDir(), "r")
			r := kiln(t, "stack", "build", dir, "--output-build", "oci:"+outB, "--output-run", "oci:"+outR)
			if r.code != 2 {
				t.Errorf("exit code %d, want 2", r.code)
			}
			wantContains(t, r.out, append([]string{filepath.Join(dir, stack.FileName)}, tt.wants...)...)
			for _, p := range []string{outB, outR} {
				if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s was written: %v", p, err)
				}
			}
		})
	}
}

// BenchmarkStackBuild builds the shipped stack from scratch (an empty
// cache) and reports the time and the compressed image sizes.
func BenchmarkStackBuild(b *testing.B) {
	s, err := stack.Read(shippedStackDir)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		start := time.Now()
		imgs, err := stack.Build(context.Background(), s, stack.Options{CacheDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/stack")
		b.ReportMetric(float64(compressedSize(b, imgs.Run))/1e6, "MB-run")
		b.ReportMetric(float64(compressedSize(b, imgs.Build))/1e6, "MB-build")
	}
}

// files is an image's flattened file list.
type files struct {
	headers map[string]*tar.Header
	bodies  map[string][]byte // the files imageFiles was asked to keep
}

// imageFiles lists the files of all layers of img (later layers win;
// stack images have no whiteouts) and keeps the content of the files
// named in keep, for content.
func imageFiles(t *testing.T, img v1.Image, keep ...string) files {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	out := files{headers: map[string]*tar.Header{}, bodies: map[string][]byte{}}
	for _, l := range layers {
		walkLayer(t, l, func(name string, h *tar.Header, tr *tar.Reader) {
			out.headers[name] = h
			if slices.Contains(keep, name) {
				b, err := io.ReadAll(tr)
				if err != nil {
					t.Fatal(err)
				}
				out.bodies[name] = b
			}
		})
	}
	return out
}

// resolve follows symlinks (one level of directories and the entry
// itself) to a header.
func (f files) resolve(name string) *tar.Header {
	for i := 0; i < 10; i++ {
		h := f.headers[name]
		if h == nil {
			// a symlinked parent, as in merged /usr
			dir, base := filepath.Split(name)
			dir = strings.TrimSuffix(dir, "/")
			if p := f.headers[dir]; dir != "" && p != nil && p.Typeflag == tar.TypeSymlink {
				name = filepath.Join(filepath.Dir(dir), p.Linkname, base)
				name = strings.TrimPrefix(filepath.Clean("/"+name), "/")
				continue
			}
			return nil
		}
		if h.Typeflag != tar.TypeSymlink {
			return h
		}
		target := h.Linkname
		if !strings.HasPrefix(target, "/") {
			target = filepath.Join(filepath.Dir(name), target)
		}
		name = strings.TrimPrefix(filepath.Clean("/"+target), "/")
	}
	return nil
}

// content returns the bytes of a file imageFiles kept, from the topmost
// layer holding it.
func (f files) content(t *testing.T, name string) []byte {
	t.Helper()
	b, ok := f.bodies[name]
	if !ok {
		t.Fatalf("/%s is in no layer", name)
	}
	return b
}

// libcPath finds libc.so.6 in the image's multiarch directory.
func libcPath(f files) string {
	triplet := map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}[runtime.GOARCH]
	for _, p := range []string{"lib/" + triplet + "/libc.so.6", "usr/lib/" + triplet + "/libc.so.6"} {
		if f.resolve(p) != nil {
			return p
		}
	}
	return ""
}

func compressedSize(t testing.TB, img v1.Image) int64 {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, l := range layers {
		s, err := l.Size()
		if err != nil {
			t.Fatal(err)
		}
		n += s
	}
	return n
}

func containsPackage(pkgs []debian.Package, name string) bool {
	for _, p := range pkgs {
		if p.Name == name {
			return true
		}
	}
	return false
}

// TestDefaultBuilder builds an app with no --builder: kiln makes its
// default builder in the local store from the debian-bookworm stack (from
// the shared stack cache) and its own buildpacks, then reuses it. The app,
// a static site, is run with real runc and answers over HTTP.
func TestDefaultBuilder(t *testing.T) {
	shippedStack(t) // fills the stack cache the default builder uses
	useKilnBuildpacks(t)
	app := filepath.Join(t.TempDir(), "site")
	if err := os.MkdirAll(app, 0o755); err != nil {
		t.Fatal(err)
	}
	const body = "<h1>built by kiln's default builder</h1>\n"
	if err := os.WriteFile(filepath.Join(app, "index.html"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Unsetenv("KILN_BUILDER")
	// Other tests may have made it already: start without it.
	kiln(t, "rm", "kiln/default-builder:latest")
	out := mustKiln(t, "build", "kiln-test/default-app", "--path", app)
	wantContains(t, out, "default builder kiln/default-builder:latest is not in the local store", "default builder ready", "BUILDER kiln/default-builder:latest", "kiln/static")

	// It is in the store with the stack's run image, and is reused.
	out = mustKiln(t, "images")
	wantContains(t, out, "kiln/default-builder:latest", "kiln/debian-bookworm-run:latest", "kiln/debian-bookworm-build:latest")
	out = mustKiln(t, "builder", "default")
	wantContains(t, out, "kiln/default-builder:latest")
	wantNotContains(t, out, "making it", "mmdebstrap")

	store, err := imageio.OpenStore(os.Getenv("KILN_STORE"))
	if err != nil {
		t.Fatal(err)
	}
	app1, err := store.Image("kiln-test/default-app:latest")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := app1.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.Labels["io.buildpacks.base.id"] != "io.kiln.stacks.debian-bookworm" || cfg.Config.User != "1000:1000" {
		t.Errorf("app image: base id %q, user %q", cfg.Config.Labels["io.buildpacks.base.id"], cfg.Config.User)
	}

	port := freePort(t)
	got := runAndGet(t, "kiln-test/default-app", port)
	if got != body {
		t.Errorf("GET / = %q, want %q", got, body)
	}

	// A second build reuses the builder.
	out = mustKiln(t, "build", "kiln-test/default-app", "--path", app)
	wantNotContains(t, out, "not in the local store", "mmdebstrap")
	wantContains(t, out, "BUILDER kiln/default-builder:latest")
}

// useKilnBuildpacks makes kiln's first-party buildpacks available to a
// kiln built without them embedded: `make buildpacks` into a temp dir,
// named by KILN_BUILDPACKS. A kiln from `make build` embeds them.
func useKilnBuildpacks(t *testing.T) {
	t.Helper()
	if os.Getenv("KILN_BIN") != "" {
		return
	}
	dir := filepath.Join(env.home, "buildpacks-bin")
	if _, err := os.Stat(filepath.Join(dir, "buildpacks")); err != nil {
		cmd := exec.Command("make", "-C", "..", "buildpacks", "BIN="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make buildpacks: %v\n%s", err, out)
		}
	}
	t.Setenv("KILN_BUILDPACKS", filepath.Join(dir, "buildpacks"))
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// runAndGet runs image with `kiln run` in the background, with PORT set,
// and returns the body of GET / once it answers.
func runAndGet(t *testing.T, image string, port int) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, env.kiln, "run", "-e", fmt.Sprintf("PORT=%d", port), image)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 20 * time.Second
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		cancel()
		<-done
		t.Logf("kiln run %s:\n%s", image, log.String())
	}()
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("kiln run exited before answering: %v", err)
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %s\n%s", url, resp.Status, b)
			}
			return string(b)
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("no answer on %s within a minute", url)
	return ""
}

// TestStackBuildPackageDiff: two recipes that differ by one run image
// package; `kiln stack build` of the second over the first says which
// package was added (and, going back, removed), in its output and as
// JSON, while the unchanged build image keeps its digest and the diff
// stays out of the images.
func TestStackBuildPackageDiff(t *testing.T) {
	cache, err := stackCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	os.Setenv("KILN_STACK_CACHE", cache) // as shippedStack: built stacks are shared across runs
	recipe := func(runPackages string) string {
		dir := filepath.Join(t.TempDir(), "diffstack")
		os.MkdirAll(dir, 0o755)
		toml := `id = "io.kiln.test.diff"
suite = "bookworm"
uid = 1001
gid = 1002
[labels]
"io.buildpacks.base.maintainer" = "kiln tests"
[build]
variant = "essential"
[run]
variant = "essential"
packages = [` + runPackages + `]
`
		if err := os.WriteFile(filepath.Join(dir, stack.FileName), []byte(toml), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	a, b := recipe(""), recipe(`"netbase"`)
	build, run := env.reg.Host+"/kiln-test/diff-build:latest", env.reg.Host+"/kiln-test/diff-run:latest"
	stackBuild := func(dir string, extra ...string) string {
		return mustKiln(t, append([]string{"stack", "build", dir, "--tag-build", build, "--tag-run", run, "--publish"}, extra...)...)
	}
	out := stackBuild(a)
	wantContains(t, out, "packages: nothing to compare with ("+run+": no image there yet)")
	buildA := digestRE.FindString(out[strings.Index(out, "build image:"):])
	runA := pull(t, run)

	jsonPath := filepath.Join(t.TempDir(), "diff.json")
	out = stackBuild(b, "--diff-json", jsonPath)
	runADigest, _ := runA.Digest()
	wantContains(t, out, "packages since "+run+" ("+short(runADigest.String())+"): 1 added, 0 removed, 0 upgraded, 0 downgraded",
		"packages: unchanged since "+build)
	var diffs map[string]struct {
		Previous       string           `json:"previous"`
		PreviousDigest string           `json:"previousDigest"`
		Digest         string           `json:"digest"`
		Added          []debian.Package `json:"added"`
		Removed        []debian.Package `json:"removed"`
		Changed        []stack.Change   `json:"changed"`
	}
	raw, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &diffs); err != nil {
		t.Fatalf("--diff-json: %v\n%s", err, raw)
	}
	r := diffs["run"]
	if len(r.Added) != 1 || r.Added[0].Name != "netbase" || r.Added[0].Version == "" || len(r.Removed) != 0 || len(r.Changed) != 0 || r.PreviousDigest != runADigest.String() {
		t.Errorf("run image diff: %s", raw)
	}
	wantContains(t, out, fmt.Sprintf("added      netbase:%s %s", r.Added[0].Architecture, r.Added[0].Version))
	if bd := diffs["build"]; len(bd.Added)+len(bd.Removed)+len(bd.Changed) != 0 || bd.Digest != buildA || bd.PreviousDigest != buildA {
		t.Errorf("build image: unchanged packages, want digest %s unchanged: %s", buildA, raw)
	}
	runB, _ := pull(t, run).Digest()
	if r.Digest != runB.String() {
		t.Errorf("JSON digest %s, registry %s", r.Digest, runB)
	}

	// Back to the first recipe: netbase is removed, and the image is the
	// first build's again.
	out = stackBuild(a)
	wantContains(t, out, "0 added, 1 removed", "removed    netbase:")
	if d, _ := pull(t, run).Digest(); d != runADigest {
		t.Errorf("rebuilding the first recipe gave %s, first %s", d, runADigest)
	}
	// With nothing to compare with, the second recipe gives the same
	// digest: the diff is not in the image.
	layout := filepath.Join(t.TempDir(), "layout")
	out = mustKiln(t, "stack", "build", b, "--output-build", "oci:"+layout, "--output-run", "oci:"+layout)
	wantContains(t, out, "nothing to compare with", runB.String())
}

// short is a digest's first 12 hex digits, as kiln prints it.
func short(d string) string {
	if len(d) > len("sha256:")+12 {
		return d[:len("sha256:")+12]
	}
	return d
}
