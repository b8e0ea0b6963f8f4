package debian

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/stacks/debian/accounts"
)

// These tests run the real mmdebstrap against Debian's mirror. The image
// they share is cached under $HOME/.cache/kiln-test/stacks so that later
// runs reuse it; each run still calls mmdebstrap twice (the
// reproducibility rebuild and the unknown-package failure).

var testRecipe = Recipe{
	Suite:    "bookworm",
	Variant:  "essential",
	Packages: []string{"ca-certificates"},
	UID:      1234,
	GID:      2345,
	StackID:  "io.kiln.test.bookworm",
	Env:      map[string]string{"LANG": "C.UTF-8"},
	Labels:   map[string]string{"io.buildpacks.base.maintainer": "kiln tests"},
}

func testCacheDir(t *testing.T) string {
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatalf("finding the home directory for the test cache: %v", err)
	}
	return filepath.Join(home, ".cache", "kiln-test", "stacks")
}

var shared struct {
	once sync.Once
	img  v1.Image
	err  error
	log  bytes.Buffer
}

// sharedImage builds testRecipe once per test binary, from the persistent
// test cache when it is there.
func sharedImage(t *testing.T) v1.Image {
	t.Helper()
	requireMmdebstrap(t)
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		shared.img, shared.err = Build(ctx, testRecipe, Options{CacheDir: testCacheDir(t), Log: &shared.log})
	})
	if shared.err != nil {
		t.Fatalf("building the shared test image: %v\nlog:\n%s", shared.err, shared.log.String())
	}
	return shared.img
}

func requireMmdebstrap(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		t.Fatalf("these tests need mmdebstrap (apt-get install mmdebstrap): %v", err)
	}
}

// layerFile is one entry of the image layer.
type layerFile struct {
	hdr  tar.Header
	body []byte
}

func readLayer(t *testing.T, img v1.Image) []layerFile {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var out []layerFile
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading layer: %v", err)
		}
		var body []byte
		switch h.Name {
		case "etc/passwd", "etc/group", "etc/hostname", "etc/resolv.conf":
			if body, err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, layerFile{hdr: *h, body: body})
	}
}

func TestBuildDebianImage(t *testing.T) {
	img := sharedImage(t)
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	epoch := cfg.Created.Time
	files := readLayer(t, img)
	byName := map[string]layerFile{}
	for _, f := range files {
		byName[f.hdr.Name] = f
	}

	t.Run("layer", func(t *testing.T) {
		if len(files) < 1000 {
			t.Fatalf("only %d entries in the layer", len(files))
		}
		var names []string
		for _, f := range files {
			h := f.hdr
			names = append(names, strings.TrimSuffix(h.Name, "/"))
			if h.Typeflag == tar.TypeChar || h.Typeflag == tar.TypeBlock {
				t.Errorf("device node %s in the layer", h.Name)
			}
			if strings.HasPrefix(h.Name, "dev/") && h.Name != "dev/" {
				t.Errorf("%s: /dev must be empty", h.Name)
			}
			if !h.ModTime.Equal(epoch) {
				t.Errorf("%s: mtime %v, want %v", h.Name, h.ModTime, epoch)
			}
			if h.Uname != "" || h.Gname != "" {
				t.Errorf("%s: owner names %q/%q, want empty", h.Name, h.Uname, h.Gname)
			}
			if h.Typeflag == tar.TypeReg && h.Size > 0 {
				for _, dir := range []string{"var/cache/apt/", "var/lib/apt/lists/", "var/log/", "tmp/"} {
					if strings.HasPrefix(h.Name, dir) {
						t.Errorf("%s: files under /%s must be gone or empty", h.Name, dir)
					}
				}
			}
			if h.Name == "var/cache/ldconfig/aux-cache" {
				t.Errorf("%s is in the layer", h.Name)
			}
		}
		if !slices.IsSorted(names) {
			t.Error("layer entries are not sorted by name")
		}
		for _, n := range []string{"etc/hostname", "etc/resolv.conf"} {
			if f, ok := byName[n]; ok && len(f.body) != 0 {
				t.Errorf("%s holds %q from the build host", n, f.body)
			}
		}
		for _, d := range []string{"workspace/", "layers/", "platform/", "home/cnb/"} {
			h := byName[d].hdr
			if h.Typeflag != tar.TypeDir || h.Uid != 1234 || h.Gid != 2345 || h.Mode&0o7777 != 0o755 {
				t.Errorf("%s: type %q owner %d:%d mode %o, want a directory 1234:2345 0755", d, h.Typeflag, h.Uid, h.Gid, h.Mode)
			}
		}
		if h := byName["tmp/"].hdr; h.Mode&0o7777 != 0o1777 {
			t.Errorf("tmp/ mode %o, want 1777", h.Mode)
		}
	})

	t.Run("accounts", func(t *testing.T) {
		users, err := accounts.ParsePasswd(byName["etc/passwd"].body)
		if err != nil {
			t.Fatal(err)
		}
		var found *accounts.PasswdEntry
		for i := range users {
			if users[i].Name == "cnb" {
				found = &users[i]
			}
		}
		if found == nil {
			t.Fatalf("no cnb user in /etc/passwd:\n%s", byName["etc/passwd"].body)
		}
		if found.UID != 1234 || found.GID != 2345 || found.Home != "/home/cnb" || found.Shell != "/bin/bash" {
			t.Errorf("cnb user %+v, want uid 1234 gid 2345 home /home/cnb shell /bin/bash", *found)
		}
		groups, err := accounts.ParseGroup(byName["etc/group"].body)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(groups, func(g accounts.GroupEntry) bool { return g.Name == "cnb" && g.GID == 2345 }) {
			t.Errorf("no cnb group with gid 2345 in /etc/group:\n%s", byName["etc/group"].body)
		}
	})

	t.Run("config", func(t *testing.T) {
		if cfg.Config.User != "1234:2345" {
			t.Errorf("User = %q, want 1234:2345", cfg.Config.User)
		}
		wantEnv := []string{"CNB_GROUP_ID=2345", "CNB_STACK_ID=io.kiln.test.bookworm", "CNB_USER_ID=1234", "LANG=C.UTF-8", "PATH=" + DefaultPath}
		if diff := cmp.Diff(wantEnv, cfg.Config.Env); diff != "" {
			t.Errorf("Env (-want +got):\n%s", diff)
		}
		if cfg.OS != "linux" || cfg.Architecture != debianArchs[hostArch()].arch {
			t.Errorf("platform %s/%s", cfg.OS, cfg.Architecture)
		}
		if epoch.Before(time.Date(2023, 6, 10, 0, 0, 0, 0, time.UTC)) || epoch.After(time.Now()) {
			t.Errorf("Created = %v, want the date of a bookworm package (after its release, before now)", epoch)
		}
		wantLabels := map[string]string{
			"io.buildpacks.base.maintainer": "kiln tests",
			LabelDistroName:                 "debian",
			LabelDistroVersion:              "12",
			LabelReleased:                   epoch.UTC().Format(time.RFC3339),
			LabelStackID:                    "io.kiln.test.bookworm",
			LabelBaseID:                     "io.kiln.test.bookworm",
		}
		got := cfg.Config.Labels
		for k, v := range wantLabels {
			if got[k] != v {
				t.Errorf("label %s = %q, want %q", k, got[k], v)
			}
		}
		if len(got[LabelPackages]) > 8<<10 {
			t.Errorf("label %s is %d bytes; keep it small", LabelPackages, len(got[LabelPackages]))
		}
	})

	t.Run("packages", func(t *testing.T) {
		pkgs, err := Packages(img)
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]Package{}
		for _, p := range pkgs {
			have[p.Name] = p
		}
		for _, name := range []string{"bash", "coreutils", "dash", "ca-certificates"} {
			if p, ok := have[name]; !ok || p.Version == "" || p.Architecture == "" {
				t.Errorf("package %s missing or incomplete: %+v", name, p)
			}
		}
		if have["bash"].Architecture != hostArch() || have["ca-certificates"].Architecture != "all" {
			t.Errorf("architectures bash=%s ca-certificates=%s", have["bash"].Architecture, have["ca-certificates"].Architecture)
		}
	})

	t.Run("cache hit", func(t *testing.T) {
		want, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		var log bytes.Buffer
		start := time.Now()
		// A tool that does not exist proves that nothing is run.
		again, err := Build(context.Background(), testRecipe, Options{
			CacheDir: testCacheDir(t), Log: &log, Mmdebstrap: "/nonexistent/mmdebstrap",
		})
		if err != nil {
			t.Fatalf("cached Build: %v\n%s", err, log.String())
		}
		got, err := again.Digest()
		elapsed := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("cached digest %s, want %s", got, want)
		}
		if elapsed > time.Second {
			t.Errorf("cache hit took %s, want well under a second", elapsed)
		}
		if !strings.Contains(log.String(), "is cached at") {
			t.Errorf("log does not report the cache hit:\n%s", log.String())
		}
	})
}

func TestBuildUnknownPackage(t *testing.T) {
	requireMmdebstrap(t)
	t.Parallel()
	r := testRecipe
	r.Packages = []string{"ca-certificates", "kiln-no-such-package"}
	cache := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	var log bytes.Buffer
	_, err := Build(ctx, r, Options{CacheDir: cache, Log: &log})
	var te *ToolError
	if !errors.As(err, &te) {
		t.Fatalf("Build error = %v, want a *ToolError\nlog:\n%s", err, log.String())
	}
	t.Logf("Build error:\n%v", err)
	if te.Key != "packages" || te.Value != "kiln-no-such-package" {
		t.Errorf("blamed %s=%q, want packages=kiln-no-such-package", te.Key, te.Value)
	}
	if !strings.Contains(err.Error(), "kiln-no-such-package") || !strings.Contains(err.Error(), "Unable to locate package") {
		t.Errorf("error does not name the package or show the tool's output:\n%v", err)
	}
	left, _ := os.ReadDir(cache)
	for _, e := range left {
		t.Errorf("failed build left %s in the cache", e.Name())
	}
}

func TestBuildIsReproducible(t *testing.T) {
	img := sharedImage(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	fresh := func() v1.Image {
		var log bytes.Buffer
		img, err := Build(ctx, testRecipe, Options{CacheDir: t.TempDir(), Log: &log})
		if err != nil {
			t.Fatalf("rebuilding with an empty cache: %v\nlog:\n%s", err, log.String())
		}
		return img
	}
	again := fresh()
	if digestOf(t, again) == digestOf(t, img) {
		return
	}
	// The shared image may be cached from an older state of the mirror.
	// Then refresh it and compare two builds made now.
	if !samePackages(t, img, again) {
		t.Logf("the mirror changed since the shared image was cached; refreshing it")
		var log bytes.Buffer
		refreshed, err := Build(ctx, testRecipe, Options{CacheDir: testCacheDir(t), Log: &log, Refresh: true})
		if err != nil {
			t.Fatalf("refreshing the shared image: %v\n%s", err, log.String())
		}
		img = refreshed
		if digestOf(t, again) == digestOf(t, img) {
			return
		}
	}
	t.Errorf("two builds of one recipe differ: %s and %s", digestOf(t, img), digestOf(t, again))
	reportLayerDiff(t, img, again)
}

func digestOf(t *testing.T, img v1.Image) v1.Hash {
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func samePackages(t *testing.T, a, b v1.Image) bool {
	pa, err := Packages(a)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := Packages(b)
	if err != nil {
		t.Fatal(err)
	}
	return cmp.Equal(pa, pb)
}

// reportLayerDiff names the entries whose header or content differ.
func reportLayerDiff(t *testing.T, a, b v1.Image) {
	sum := func(img v1.Image) map[string]string {
		layers, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		rc, err := layers[0].Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		out := map[string]string{}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err != nil {
				return out
			}
			hash := sha256.New()
			io.Copy(hash, tr)
			out[h.Name] = fmt.Sprintf("%c %o %d:%d %d %s %x", h.Typeflag, h.Mode, h.Uid, h.Gid, h.Size, h.Linkname, hash.Sum(nil)[:6])
		}
	}
	ca, cb := sum(a), sum(b)
	n := 0
	for name, va := range ca {
		if vb := cb[name]; va != vb && n < 20 {
			t.Errorf("  %s: %q vs %q", name, va, vb)
			n++
		}
	}
	for name := range cb {
		if _, ok := ca[name]; !ok && n < 20 {
			t.Errorf("  %s only in the second build", name)
			n++
		}
	}
	cfgA, _ := a.RawConfigFile()
	cfgB, _ := b.RawConfigFile()
	if diff := cmp.Diff(string(cfgA), string(cfgB)); diff != "" {
		t.Errorf("  config (-first +second):\n%s", diff)
	}
}
