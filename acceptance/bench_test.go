//go:build acceptance

package acceptance

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// benchTable collects the figures `make bench` prints.
type benchTable struct {
	rows [][]string
}

func (t *benchTable) add(area, what, value, peer, ratio string) {
	t.rows = append(t.rows, []string{area, what, value, peer, ratio})
	fmt.Fprintf(os.Stderr, "bench: %s | %s | %s | %s | %s\n", area, what, value, peer, ratio)
}

func (t *benchTable) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AREA\tMEASURE\tKILN\tPEER\tRATIO (kiln/peer)")
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func mib(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

func ratio(a, b time.Duration) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a.Seconds()/b.Seconds())
}

func timed(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}

// benchEnv is what the benchmark builds on: a counting proxy in front of
// the registry, and kiln's default builder's run image pushed there so
// publishing mounts it instead of uploading it.
type benchEnv struct {
	proxy    *countingProxy
	runImage string
	// kiln's Go sample figures, compared with ko's.
	kilnGoCold, kilnGoWarm time.Duration
}

// BenchmarkKiln runs every measurement once and prints one table.
// Run it with `make bench` (-benchtime 1x).
func BenchmarkKiln(b *testing.B) {
	proxy, err := startCountingProxy(env.reg.Host)
	if err != nil {
		b.Fatal(err)
	}
	defer proxy.Close()
	be := &benchEnv{proxy: proxy}
	table := &benchTable{}
	be.prepareRunImage(b)
	be.benchSamples(b, table)
	be.benchBigSource(b, table)
	be.benchKo(b, table)
	be.benchRebase(b, table)
	be.benchServePush(b, table)
	be.benchServeDrain(b, table)
	fmt.Println()
	table.print(os.Stdout)
}

// prepareRunImage makes sure the default builder exists and pushes its
// run image to the registry.
func (be *benchEnv) prepareRunImage(b *testing.B) {
	shippedStack(b) // the shared stack cache, so the default builder needs no mmdebstrap run
	mustKiln(b, "builder", "default")
	store, err := imageio.OpenStore(os.Getenv("KILN_STORE"))
	if err != nil {
		b.Fatal(err)
	}
	bimg, err := store.Image("kiln/default-builder:latest")
	if err != nil {
		b.Fatal(err)
	}
	cfg, _ := bimg.ConfigFile()
	var md labels.Builder
	if _, err := labels.Decode(cfg, labels.BuilderMetadata, &md); err != nil {
		b.Fatal(err)
	}
	runName := md.Stack.RunImage.Image
	if len(md.Images) > 0 {
		runName = md.Images[0].Image
	}
	run, err := store.Image(runName)
	if err != nil {
		b.Fatalf("default builder's run image %s: %v", runName, err)
	}
	be.runImage = be.proxy.Host + "/bench/run:latest"
	pushImage(b, be.runImage, run)
}

// mainFile is the file a sample's one-line change goes into, and the line.
func mainFile(dir string) (string, string) {
	for _, c := range []struct{ file, line string }{
		{"main.go", "// bench: one-line change\n"},
		{"server.js", "// bench: one-line change\n"},
		{"index.js", "// bench: one-line change\n"},
		{"app.js", "// bench: one-line change\n"},
		{"app.py", "# bench: one-line change\n"},
		{"main.py", "# bench: one-line change\n"},
		{"index.html", "<!-- bench: one-line change -->\n"},
		{"public/index.html", "<!-- bench: one-line change -->\n"},
		{"Procfile", "# bench: one-line change\n"},
	} {
		if _, err := os.Stat(filepath.Join(dir, c.file)); err == nil {
			return filepath.Join(dir, c.file), c.line
		}
	}
	return "", ""
}

// benchSamples: per sample, a cold build (empty cache, no previous
// image), a no-op rebuild and a rebuild after a one-line change, all
// publishing through the counting proxy; and the app's size above the run
// image.
func (be *benchEnv) benchSamples(b *testing.B, table *benchTable) {
	entries, err := os.ReadDir(filepath.Join("..", "samples"))
	if err != nil {
		b.Fatal(err)
	}
	runSize := compressedSize(b, pull(b, be.runImage))
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		src := copySample(b, name)
		ref := be.proxy.Host + "/bench/" + name + ":latest"
		build := func(extra ...string) (time.Duration, int64) {
			before := be.proxy.Uploaded()
			args := append([]string{"build", ref, "--path", src, "--publish", "--run-image", be.runImage}, extra...)
			d := timed(func() { mustKiln(b, args...) })
			return d, be.proxy.Uploaded() - before
		}
		cold, coldBytes := build("--clear-cache")
		table.add(name, "cold build", secs(cold), "", "")
		table.add(name, "cold build, layer bytes uploaded", mib(coldBytes), "", "")
		var noops []time.Duration
		var noopBytes int64
		for range 3 {
			d, n := build()
			noops, noopBytes = append(noops, d), noopBytes+n
		}
		noop, target := median(noops), noopTarget(name)
		table.add(name, "no-op rebuild (median of 3)", secs(noop), fmt.Sprintf("target <= %.2f s", target.Seconds()), ratio(noop, target))
		table.add(name, "no-op rebuild, layer bytes uploaded", mib(noopBytes), "target 0", "")
		hard, soft := sandboxCost(build)
		table.add(name, "no-op rebuild, hardened sandbox vs --network host and no limits (median of 5)",
			secs(hard), secs(soft)+" (target ratio <= 1.10)", ratio(hard, soft))
		if f, line := mainFile(src); f != "" {
			fh, err := os.OpenFile(f, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				b.Fatal(err)
			}
			fh.WriteString(line)
			fh.Close()
			warm, warmBytes := build()
			table.add(name, "rebuild after one-line change", secs(warm), "", "")
			table.add(name, "one-line change, layer bytes uploaded", mib(warmBytes), "", "")
			if name == "go" || strings.HasPrefix(name, "go-") {
				be.kilnGoWarm = warm
				be.kilnGoCold = cold
			}
		}
		app := pull(b, ref)
		table.add(name, "app image size above run image (compressed)", mib(compressedSize(b, app)-runSize), "", "")
	}
}

// noopTarget is the target for a sample's no-op rebuild: a small
// app with its buildpacks' cached layers in 0.15 s (the reference
// lifecycle's creator takes 0.18 s on these machines), Go in 0.5 s, the
// others (which run npm or pip checks) in 2 s.
func noopTarget(sample string) time.Duration {
	switch {
	case sample == "go" || strings.HasPrefix(sample, "go-"):
		return 500 * time.Millisecond
	case sample == "static" || sample == "procfile":
		return 150 * time.Millisecond
	}
	return 2 * time.Second
}

// goSampleName is the Go sample's dir under samples/.
func goSampleName(b *testing.B) string {
	for _, n := range []string{"go", "go-http", "go-web"} {
		if _, err := os.Stat(filepath.Join("..", "samples", n, "go.mod")); err == nil {
			return n
		}
	}
	b.Fatal("no Go sample under samples/")
	return ""
}

// benchKo builds the Go sample with ko (from the Go module proxy) into the
// same registry on the same base image, cold and after the same change.
func (be *benchEnv) benchKo(b *testing.B, table *benchTable) {
	goSample := goSampleName(b)
	tools := filepath.Join(os.Getenv("HOME"), ".cache", "kiln-test", "tools")
	ko := filepath.Join(tools, "ko")
	if _, err := os.Stat(ko); err != nil {
		cmd := exec.Command("go", "install", "github.com/google/ko@v0.17.1")
		cmd.Env = append(os.Environ(), "GOBIN="+tools, "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("installing ko: %v\n%s", err, out)
		}
	}
	src := copySample(b, goSample)
	gocache := b.TempDir()
	run := func() time.Duration {
		cmd := exec.Command(ko, "build", "--bare", "--platform", "linux/amd64", "./")
		cmd.Dir = src
		cmd.Env = append(os.Environ(),
			"KO_DOCKER_REPO="+be.proxy.Host+"/bench/ko-"+goSample,
			"KO_DEFAULTBASEIMAGE="+be.runImage,
			"GOCACHE="+gocache, "GOMODCACHE="+filepath.Join(gocache, "mod"), "GOFLAGS=-modcacherw",
		)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		d := timed(func() {
			if err := cmd.Run(); err != nil {
				b.Fatalf("ko build: %v\n%s", err, out.String())
			}
		})
		return d
	}
	cold := run()
	table.add("ko", goSample+" cold build", secs(cold), "", "")
	table.add(goSample, "cold build vs ko", secs(be.kilnGoCold), secs(cold), ratio(be.kilnGoCold, cold))
	f, line := mainFile(src)
	fh, _ := os.OpenFile(f, os.O_APPEND|os.O_WRONLY, 0)
	fh.WriteString(line)
	fh.Close()
	warm := run()
	table.add("ko", goSample+" rebuild after one-line change", secs(warm), "", "")
	table.add(goSample, "warm rebuild vs ko (target <= 1.5x)", secs(be.kilnGoWarm), secs(warm), ratio(be.kilnGoWarm, warm))
}

// benchRebase: app images with a 10 MB and a 500 MB app layer are rebased
// onto a patched run image in the same registry; time and bytes moved.
func (be *benchEnv) benchRebase(b *testing.B, table *benchTable) {
	run := pull(b, be.runImage)
	patchedRef := be.proxy.Host + "/bench/run:patched"
	pushImage(b, patchedRef, patchedRunImage(b, run, "patched\n", nil))
	for _, size := range []int64{10 << 20, 500 << 20} {
		ref := fmt.Sprintf("%s/bench/rebase-%dm:latest", be.proxy.Host, size>>20)
		pushSyntheticApp(b, run, be.runImage, ref, size)
		up, down := be.proxy.Uploaded(), be.proxy.Downloaded()
		d := timed(func() { mustKiln(b, "rebase", ref, "--run-image", patchedRef, "--publish") })
		moved := be.proxy.Uploaded() - up + be.proxy.Downloaded() - down
		table.add("rebase", fmt.Sprintf("%d MB app layer", size>>20), secs(d), "target < 1 s", ratio(d, time.Second))
		table.add("rebase", fmt.Sprintf("%d MB app layer, blob bytes moved (config only; no layer)", size>>20), mib(moved), "target: no layer bytes", "")
	}
}

// pushSyntheticApp pushes an app image: run + one app layer of size
// incompressible bytes, with the lifecycle label a rebase needs.
func pushSyntheticApp(b *testing.B, run v1.Image, runRef, ref string, size int64) {
	ctx := context.Background()
	dir := b.TempDir()
	f, err := os.Create(filepath.Join(dir, "blob"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(f, randReader{}, size); err != nil {
		b.Fatal(err)
	}
	f.Close()
	t := archive.NewTar()
	t.Add(archive.HostFile("workspace/blob", filepath.Join(dir, "blob"), 0o644, archive.Owner{UID: 1000, GID: 1000}))
	l, err := archive.NewLayer(ctx, t, archive.WithCompressionLevel(1), archive.WithTempDir(dir))
	if err != nil {
		b.Fatal(err)
	}
	img, err := mutate.AppendLayers(run, l)
	if err != nil {
		b.Fatal(err)
	}
	ls, _ := run.Layers()
	top, _ := ls[len(ls)-1].DiffID()
	appDiff, _ := l.DiffID()
	runDigest, _ := run.Digest()
	md := labels.Lifecycle{
		App:      []labels.LayerSHA{{SHA: appDiff.String()}},
		RunImage: labels.RunImage{Image: runRef, TopLayer: top.String(), Reference: strings.Split(runRef, ":latest")[0] + "@" + runDigest.String()},
	}
	s, _ := labels.Encode(md)
	cfg, _ := img.ConfigFile()
	cfg = cfg.DeepCopy()
	if cfg.Config.Labels == nil {
		cfg.Config.Labels = map[string]string{}
	}
	cfg.Config.Labels[labels.LifecycleMetadata] = s
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		b.Fatal(err)
	}
	pushImage(b, ref, img)
}

// randReader is a fast source of incompressible bytes (xorshift).
type randReader struct{}

var randState uint64 = 88172645463325252

func (randReader) Read(p []byte) (int, error) {
	for i := range p {
		randState ^= randState << 13
		randState ^= randState >> 7
		randState ^= randState << 17
		p[i] = byte(randState)
	}
	return len(p), nil
}

// relaxedSandbox are the flags that turn the build sandbox's network and
// limits off: the peer the hardened sandbox is measured against.
var relaxedSandbox = []string{"--network", "host", "--pids-limit", "-1", "--memory", "-1"}

// sandboxCost times no-op rebuilds with the default (hardened) sandbox and
// with relaxedSandbox, interleaved so both see the same machine, and
// returns the medians.
func sandboxCost(build func(extra ...string) (time.Duration, int64)) (hard, soft time.Duration) {
	var hs, ss []time.Duration
	for range 5 {
		h, _ := build()
		s, _ := build(relaxedSandbox...)
		hs, ss = append(hs, h), append(ss, s)
	}
	return median(hs), median(ss)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
