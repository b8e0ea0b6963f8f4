//go:build acceptance

package acceptance

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/lifecycle/builder"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/stacks/debian"
)

// env is what every acceptance test shares: one registry, one test stack
// and one builder, made once per run.
var env struct {
	kiln       string // kiln binary
	home       string // isolated store and cache for this run
	reg        *registry
	builder    string // builder reference in the registry
	runImage   string // run image reference in the registry
	buildImage string // build image reference in the registry
	runImg     v1.Image
}

const (
	testUID = 1001
	testGID = 1002
)

func TestMain(m *testing.M) {
	code := 1
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "acceptance setup:", err)
	} else {
		code = m.Run()
	}
	if env.reg != nil {
		env.reg.Stop()
	}
	if env.home != "" && code == 0 {
		os.RemoveAll(env.home)
	}
	os.Exit(code)
}

func setup() error {
	ctx := context.Background()
	var err error
	if env.home, err = os.MkdirTemp("", "kiln-acceptance-"); err != nil {
		return err
	}
	os.Chmod(env.home, 0o755)
	// Isolate kiln's store and work dirs, but keep the builder root file
	// system cache shared with nothing else.
	os.Setenv("KILN_STORE", filepath.Join(env.home, "store"))
	os.Setenv("KILN_CACHE", filepath.Join(env.home, "cache"))
	if env.kiln, err = kilnBinary(); err != nil {
		return err
	}
	if env.reg, err = startRegistry(filepath.Join(env.home, "registry")); err != nil {
		return err
	}
	stackCache, err := stackCacheDir()
	if err != nil {
		return err
	}
	log := &prefixLog{prefix: "stack: "}
	buildImg, err := debian.Build(ctx, testRecipe("build"), debian.Options{CacheDir: stackCache, Log: log})
	if err != nil {
		return fmt.Errorf("building the test build image: %w", err)
	}
	if env.runImg, err = debian.Build(ctx, testRecipe("run"), debian.Options{CacheDir: stackCache, Log: log}); err != nil {
		return fmt.Errorf("building the test run image: %w", err)
	}
	iio := imageio.New(nil, imageio.WithKeychain(authn.NewMultiKeychain()))
	env.runImage = env.reg.Host + "/kiln-test/run:latest"
	if err := iio.Write(ctx, imageio.Location{Kind: imageio.Registry, Name: env.runImage}, env.runImg); err != nil {
		return err
	}
	env.buildImage = env.reg.Host + "/kiln-test/build:latest"
	if err := iio.Write(ctx, imageio.Location{Kind: imageio.Registry, Name: env.buildImage}, buildImg); err != nil {
		return err
	}
	var bps []*descriptor.Buildpack
	for _, d := range []string{"runtime", "app", "optional-fails"} {
		bp, err := descriptor.ReadBuildpack(filepath.Join("testdata", "buildpacks", d))
		if err != nil {
			return err
		}
		bps = append(bps, bp)
	}
	tmp := filepath.Join(env.home, "tmp")
	os.MkdirAll(tmp, 0o755)
	b, err := builder.Create(ctx, buildImg, builder.CreateOptions{
		Buildpacks: bps,
		Order: descriptor.Order{{Group: []descriptor.GroupEntry{
			{ID: "kiln-test/runtime", Version: "1.0.0"},
			{ID: "kiln-test/app", Version: "2.1.0"},
			{ID: "kiln-test/optional-fails", Version: "0.0.1", Optional: true},
		}}},
		Run:     builder.RunImages{Images: []builder.RunImage{{Image: env.runImage}}},
		Version: "test",
		TempDir: tmp,
	})
	if err != nil {
		return fmt.Errorf("creating the test builder: %w", err)
	}
	env.builder = env.reg.Host + "/kiln-test/builder:latest"
	if err := iio.Write(ctx, imageio.Location{Kind: imageio.Registry, Name: env.builder}, b); err != nil {
		return err
	}
	return nil
}

// testRecipe is a small Debian image: the essential packages (bash,
// coreutils, sed, ...) and the CNB user 1001:1002.
func testRecipe(kind string) debian.Recipe {
	return debian.Recipe{
		Suite:    "bookworm",
		Variant:  "essential",
		Packages: []string{"ca-certificates"},
		Kind:     kind,
		User:     "cnb",
		UID:      testUID,
		GID:      testGID,
		StackID:  "io.kiln.test",
	}
}

func stackCacheDir() (string, error) {
	if d := os.Getenv("KILN_TEST_STACK_CACHE"); d != "" {
		return d, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(base, "kiln-test", "stacks"), nil
}

// kilnBinary is $KILN_BIN (make acceptance sets it), else a static kiln
// built now with the launcher beside it.
func kilnBinary() (string, error) {
	if p := os.Getenv("KILN_BIN"); p != "" {
		return p, nil
	}
	dir := filepath.Join(env.home, "bin")
	for _, b := range []struct{ out, pkg string }{{"launcher", "./cmd/launcher"}, {"kiln", "./cmd/kiln"}} {
		cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, b.out), b.pkg)
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("building %s: %v\n%s", b.pkg, err, out)
		}
	}
	return filepath.Join(dir, "kiln"), nil
}

type prefixLog struct{ prefix string }

func (p *prefixLog) Write(b []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		fmt.Fprintln(os.Stderr, p.prefix+l)
	}
	return len(b), nil
}

// result is one kiln invocation.
type result struct {
	out  string
	code int
}

// kiln runs the kiln binary with args and returns its combined output and
// exit code.
func kiln(t testing.TB, args ...string) result {
	t.Helper()
	return runKiln(t, "", func(ctx context.Context) *exec.Cmd { return exec.CommandContext(ctx, env.kiln, args...) }, args)
}

// runKiln runs the command mk makes (kiln with args, as who says) with a
// time limit, logs it and returns its combined output and exit code.
func runKiln(t testing.TB, who string, mk func(context.Context) *exec.Cmd, args []string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := mk(ctx)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%skiln %s: %v", who, strings.Join(args, " "), err)
	}
	t.Logf("$ %skiln %s (exit %d)\n%s", who, strings.Join(args, " "), code, buf.String())
	return result{buf.String(), code}
}

// mustKiln runs kiln and fails the test unless it exits 0.
func mustKiln(t testing.TB, args ...string) string {
	t.Helper()
	r := kiln(t, args...)
	if r.code != 0 {
		t.Fatalf("kiln %s exited %d:\n%s", strings.Join(args, " "), r.code, r.out)
	}
	return r.out
}

func wantContains(t testing.TB, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

func wantNotContains(t testing.TB, out string, nots ...string) {
	t.Helper()
	for _, w := range nots {
		if strings.Contains(out, w) {
			t.Errorf("output has %q:\n%s", w, out)
		}
	}
}

// copyTree copies the directory src to dst (whose parent must exist) with
// cp -a and returns dst.
func copyTree(t testing.TB, src, dst string) string {
	t.Helper()
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("copying %s: %v %s", src, err, out)
	}
	return dst
}

// appSource copies testdata/app to a fresh dir (so tests can change it).
func appSource(t testing.TB) string {
	t.Helper()
	return copyTree(t, filepath.Join("testdata", "app"), filepath.Join(t.TempDir(), "app"))
}

// copySample copies samples/<name> to a fresh dir.
func copySample(t testing.TB, name string) string {
	t.Helper()
	return copyTree(t, filepath.Join("..", "samples", name), filepath.Join(t.TempDir(), name))
}
