package imageio

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

func TestTimeoutFromEnv(t *testing.T) {
	for _, tc := range []struct {
		env     string
		want    time.Duration
		wantErr bool
	}{
		{env: "", want: DefaultTimeout},
		{env: "5s", want: 5 * time.Second},
		{env: "2m", want: 2 * time.Minute},
		{env: "90", want: 90 * time.Second},
		{env: "0.5", want: 500 * time.Millisecond},
		{env: "0", wantErr: true},
		{env: "-3s", wantErr: true},
		{env: "soon", wantErr: true},
	} {
		t.Setenv(TimeoutEnv, tc.env)
		got, err := TimeoutFromEnv()
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("%s=%q: %v, %v; want %v (error %v)", TimeoutEnv, tc.env, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestBadTimeoutEnvFailsRegistryCalls(t *testing.T) {
	host := serveRegistry(t, noWrap)
	t.Setenv(TimeoutEnv, "soon")
	_, err := New(nil, WithKeychain(authn.NewMultiKeychain())).Remote(context.Background(), host+"/a:b")
	if err == nil || !strings.Contains(err.Error(), TimeoutEnv) {
		t.Errorf("error = %v, want one naming %s", err, TimeoutEnv)
	}
	// WithTimeout overrides the variable.
	_, err = New(nil, WithKeychain(authn.NewMultiKeychain()), WithTimeout(time.Second)).Remote(context.Background(), host+"/a:b")
	if !IsNotFound(err) {
		t.Errorf("with WithTimeout: error = %v, want not found", err)
	}
}

// blocker holds requests until the client gives up or release.
type blocker chan struct{}

func (b blocker) block(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-b:
	}
}

// releaseAtEnd releases the blocked requests before the servers close
// (cleanups run last-registered first): call it after serveRegistry.
func (b blocker) releaseAtEnd(t *testing.T) { t.Cleanup(func() { close(b) }) }

// A registry that stops answering mid-push fails the push within the
// timeout, with an error naming the registry and the request.
func TestStalledPushFails(t *testing.T) {
	b := make(blocker)
	host := serveRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPatch {
				b.block(r) // reads nothing of the blob, answers nothing
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	b.releaseAtEnd(t)
	img, _ := random.Image(4<<20, 1) // more than the socket buffers take
	// Long enough that a loaded machine's in-process registry answers
	// every other call in time (-race beside the acceptance tests).
	const timeout = time.Second
	iio := New(nil, WithKeychain(authn.NewMultiKeychain()), WithTimeout(timeout))
	start := time.Now()
	err := iio.Write(context.Background(), Location{Kind: Registry, Name: host + "/team/app:v1"}, img)
	took := time.Since(start)
	var se *StallError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is no *StallError", err, err)
	}
	t.Logf("after %s: %v", took, err)
	if took > 10*timeout {
		t.Errorf("the push failed after %s, timeout %s", took, timeout)
	}
	for _, want := range []string{"pushing " + host + "/team/app:v1 to registry " + host, "uploading a blob to team/app", "no answer from " + host + " for 1s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if IsNotFound(err) {
		t.Error("a stall is not-found")
	}
}

// A registry that stops sending mid-download fails the read.
func TestStalledDownloadFails(t *testing.T) {
	b := make(blocker)
	var stall atomic.Bool
	img, _ := random.Image(1<<20, 1)
	ls, _ := img.Layers()
	size, _ := ls[0].Size()
	host := serveRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if stall.Load() && r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
				w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
				w.WriteHeader(http.StatusOK)
				w.Write(make([]byte, 1000))
				w.(http.Flusher).Flush()
				b.block(r)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	b.releaseAtEnd(t)
	iio := New(nil, WithKeychain(authn.NewMultiKeychain()), WithTimeout(time.Second))
	ref := host + "/team/app:v1"
	if err := iio.Write(context.Background(), Location{Kind: Registry, Name: ref}, img); err != nil {
		t.Fatal(err)
	}
	stall.Store(true)
	back, err := iio.Remote(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	ls, err = back.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := ls[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, rc)
	var se *StallError
	if !errors.As(err, &se) || !strings.Contains(se.Action, "downloading blob sha256:") || se.Host != host {
		t.Errorf("error = %v, want a stall downloading a blob from %s", err, host)
	}
}

// slowLayer hands out its blob in small pieces, slowly.
type slowLayer struct{ v1.Layer }

func (l slowLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{&slowReader{rc}, rc}, nil
}

type slowReader struct{ r io.Reader }

func (s *slowReader) Read(p []byte) (int, error) {
	time.Sleep(20 * time.Millisecond)
	return s.r.Read(p[:min(len(p), 4096)])
}

// Time kiln spends producing what it sends or consuming what it receives
// is not the registry's: only waits on the network count.
func TestSlowCallerIsNoStall(t *testing.T) {
	host := serveRegistry(t, noWrap)
	const timeout = time.Second
	// One blob at a time: the in-process registry holds a lock while it
	// reads an upload, so a second upload would rightly stall.
	iio := New(nil, WithKeychain(authn.NewMultiKeychain()), WithTimeout(timeout), WithJobs(1))
	l, _ := random.Layer(64<<10, "application/vnd.oci.image.layer.v1.tar+gzip")
	img, err := mutate.AppendLayers(mustRandom(t), slowLayer{l})
	if err != nil {
		t.Fatal(err)
	}
	ref := host + "/team/slow:v1"
	if err := iio.Write(context.Background(), Location{Kind: Registry, Name: ref}, img); err != nil {
		t.Fatalf("a slow producer: %v", err)
	}
	back, err := iio.Remote(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	ls, _ := back.Layers()
	rc, err := ls[len(ls)-1].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	buf := make([]byte, 1)
	if _, err := io.ReadFull(rc, buf); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * timeout)
	if _, err := io.Copy(io.Discard, rc); err != nil {
		t.Errorf("a slow consumer: %v", err)
	}
}

func mustRandom(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(100, 1)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// A failing registry is retried a bounded number of times.
func TestRetriesAreBounded(t *testing.T) {
	var tries atomic.Int32
	host := serveRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/manifests/") {
				tries.Add(1)
				http.Error(w, "down", http.StatusServiceUnavailable)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	start := time.Now()
	_, err := New(nil, WithKeychain(authn.NewMultiKeychain())).Remote(context.Background(), host+"/team/app:v1")
	if err == nil || IsNotFound(err) {
		t.Fatalf("error = %v", err)
	}
	if n := tries.Load(); n < 2 || n > int32(retryBackoff.Steps) {
		t.Errorf("%d tries, want 2..%d", n, retryBackoff.Steps)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("gave up after %s", took)
	}
}

func TestDescribeRequest(t *testing.T) {
	for _, tc := range []struct{ method, url, want string }{
		{"GET", "http://r/v2/", "checking the registry API"},
		{"HEAD", "http://r/v2/team/app/manifests/v1", "reading manifest team/app:v1"},
		{"PUT", "http://r/v2/team/app/manifests/v1", "pushing manifest team/app:v1"},
		{"HEAD", "http://r/v2/team/app/blobs/sha256:ab", "checking for blob sha256:ab in team/app"},
		{"GET", "http://r/v2/team/app/blobs/sha256:ab", "downloading blob sha256:ab from team/app"},
		{"POST", "http://r/v2/team/app/blobs/uploads/", "starting a blob upload to team/app"},
		{"POST", "http://r/v2/team/app/blobs/uploads/?mount=sha256:ab&from=x", "mounting blob sha256:ab into team/app"},
		{"PATCH", "http://r/v2/team/app/blobs/uploads/123", "uploading a blob to team/app"},
		{"PUT", "http://r/v2/team/app/blobs/uploads/123?digest=sha256:ab", "finishing the upload of blob sha256:ab to team/app"},
		{"GET", "https://auth.example.com/token?scope=x", "GET https://auth.example.com/token"},
	} {
		u, _ := url.Parse(tc.url)
		if got := describeRequest(&http.Request{Method: tc.method, URL: u}); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.method, tc.url, got, tc.want)
		}
	}
}
