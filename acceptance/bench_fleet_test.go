//go:build acceptance

package acceptance

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/kiln-build/kiln/lifecycle/imageio"
)

// fleetSize is how many app images the fleet benchmark rebases.
const fleetSize = 100

// BenchmarkFleet: 100 app images under one prefix, all on the old run
// image; a patched run image is published and `kiln fleet rebase PREFIX`
// moves them all. Target: under 5 s in total, with no layer byte moved.
func BenchmarkFleet(b *testing.B) {
	up, err := startUploadLog(env.reg.Host)
	if err != nil {
		b.Fatal(err)
	}
	defer up.Close()
	h := up.Host
	run := h + "/fleet-bench/run:latest"
	prefix := h + "/fleet-bench/apps"
	pushImage(b, run, env.runImg)
	first := prefix + "/app-000:latest"
	mustKiln(b, "build", first, "--builder", env.builder, "--path", appSource(b), "--publish", "--run-image", run)
	copyFleet(b, first, prefix)
	pushImage(b, run, patchedRunImage(b, env.runImg, "fleet bench patch\n", nil))

	up.Reset()
	var out string
	d := timed(func() { out = mustKiln(b, "fleet", "rebase", prefix) })
	want := fmt.Sprintf("%d images: %d rebased, 0 current, 0 refused, 0 failed, 0 skipped", fleetSize, fleetSize)
	if !strings.Contains(out, want) {
		b.Fatalf("fleet rebase: want %q in:\n%s", want, out)
	}
	configs, layerSet := map[string]bool{}, map[string]bool{}
	oldRun, err := env.runImg.Manifest()
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range oldRun.Layers {
		layerSet[l.Digest.String()] = true
	}
	for i := range fleetSize {
		m, err := pull(b, fmt.Sprintf("%s/app-%03d:latest", prefix, i)).Manifest()
		if err != nil {
			b.Fatal(err)
		}
		configs[m.Config.Digest.String()] = true
		for _, l := range m.Layers {
			layerSet[l.Digest.String()] = true
		}
	}
	var layerBytes, configBytes int64
	var layers []string
	for dg, n := range up.Uploads() {
		if configs[dg] {
			configBytes += n
			continue
		}
		layerBytes += n
		layers = append(layers, dg)
	}
	if len(layers) > 0 {
		b.Errorf("the fleet rebase uploaded %d blobs that are no config (%d bytes): %v", len(layers), layerBytes, layers)
	}
	layerDown := up.Downloaded(layerSet)
	if layerDown != 0 {
		b.Errorf("the fleet rebase downloaded %d layer bytes", layerDown)
	}
	// A second run does nothing.
	up.Reset()
	d2 := timed(func() { out = mustKiln(b, "fleet", "rebase", prefix) })
	if !strings.Contains(out, fmt.Sprintf("%d current", fleetSize)) || len(up.Uploads()) != 0 {
		b.Errorf("the second fleet rebase changed something:\n%s", out)
	}

	table := &benchTable{}
	target := 5 * time.Second
	table.add("fleet", fmt.Sprintf("rebase %d app images (kiln fleet rebase PREFIX)", fleetSize), secs(d), "target < 5 s", ratio(d, target))
	table.add("fleet", "layer bytes uploaded", mib(layerBytes), "target 0", "")
	table.add("fleet", fmt.Sprintf("config bytes uploaded (%d configs)", len(configs)), mib(configBytes), "", "")
	table.add("fleet", "layer bytes downloaded", mib(layerDown), "target 0", "")
	table.add("fleet", fmt.Sprintf("second run, all %d current", fleetSize), secs(d2), "", "")
	fmt.Println()
	table.print(os.Stdout)
}

// copyFleet puts the image src under fleetSize-1 more repositories
// prefix/app-NNN: every blob is mounted from src's repository, none
// uploaded.
func copyFleet(b *testing.B, src, prefix string) {
	ctx := context.Background()
	iio := imageio.New(nil, imageio.WithKeychain(authn.NewMultiKeychain()))
	img, err := iio.Remote(ctx, src)
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, fleetSize)
	sem := make(chan struct{}, 8)
	for i := 1; i < fleetSize; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs <- iio.Write(ctx, imageio.Location{Kind: imageio.Registry, Name: fmt.Sprintf("%s/app-%03d:latest", prefix, i)}, img)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
}

// uploadLog is a proxy in front of the registry that records, per
// finished blob upload, its digest and the bytes sent for it, and the
// bytes of each blob fetched.
type uploadLog struct {
	Host string
	srv  *http.Server

	mu        sync.Mutex
	sessions  map[string]int64 // upload session path -> bytes so far
	uploads   map[string]int64 // digest -> bytes
	downloads map[string]int64 // digest -> bytes
}

func startUploadLog(target string) (*uploadLog, error) {
	u, err := url.Parse("http://" + target)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &uploadLog{Host: l.Addr().String()}
	p.Reset()
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method == http.MethodPatch || r.Method == http.MethodPut) && strings.Contains(r.URL.Path, "/blobs/uploads/") {
			p.upload(w, r, rp)
			return
		}
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:") {
			cw := &countingWriter{ResponseWriter: w, n: new(atomic.Int64)}
			rp.ServeHTTP(cw, r)
			p.mu.Lock()
			p.downloads[path.Base(r.URL.Path)] += cw.n.Load()
			p.mu.Unlock()
			return
		}
		rp.ServeHTTP(w, r)
	})}
	go p.srv.Serve(l)
	return p, nil
}

// upload passes a blob upload request on, counting its body; a PUT
// with ?digest= ends the session under that digest.
func (p *uploadLog) upload(w http.ResponseWriter, r *http.Request, rp http.Handler) {
	n := new(atomic.Int64)
	if r.Body != nil {
		r.Body = &countingBody{ReadCloser: r.Body, n: n}
	}
	rp.ServeHTTP(w, r)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sessions[r.URL.Path] += n.Load()
	if dg := r.URL.Query().Get("digest"); r.Method == http.MethodPut && dg != "" {
		p.uploads[dg] += p.sessions[r.URL.Path]
		delete(p.sessions, r.URL.Path)
	}
}

// Reset forgets what was recorded.
func (p *uploadLog) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sessions, p.uploads, p.downloads = map[string]int64{}, map[string]int64{}, map[string]int64{}
}

// Uploads returns the finished uploads since the last Reset: digest ->
// bytes sent.
func (p *uploadLog) Uploads() map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int64{}
	for k, v := range p.uploads {
		out[k] = v
	}
	return out
}

// Downloaded is the bytes fetched of the blobs in set.
func (p *uploadLog) Downloaded(set map[string]bool) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var n int64
	for dg, b := range p.downloads {
		if set[dg] {
			n += b
		}
	}
	return n
}

func (p *uploadLog) Close() { p.srv.Close() }
