package imageio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// DefaultTimeout is how long a registry call may go without progress
// (no connection, no byte accepted or received) before kiln gives up.
const DefaultTimeout = 60 * time.Second

// TimeoutEnv names the environment variable that overrides DefaultTimeout.
const TimeoutEnv = "KILN_REGISTRY_TIMEOUT"

// TimeoutFromEnv returns $KILN_REGISTRY_TIMEOUT (a duration such as "90s"
// or "2m", or a number of seconds), or DefaultTimeout when it is unset.
func TimeoutFromEnv() (time.Duration, error) {
	s := os.Getenv(TimeoutEnv)
	if s == "" {
		return DefaultTimeout, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		n, nerr := strconv.ParseFloat(s, 64)
		if nerr != nil {
			return 0, fmt.Errorf("%s=%q: want a duration such as 60s or 2m", TimeoutEnv, s)
		}
		d = time.Duration(n * float64(time.Second))
	}
	if d <= 0 {
		return 0, fmt.Errorf("%s=%q: want a duration above zero", TimeoutEnv, s)
	}
	return d, nil
}

// retryBackoff bounds retries of a failed request (5xx, 429, a reset
// connection): three tries, 0.5 s and 1.5 s apart. A request that stalls
// is not retried: the stall already took the whole timeout.
var retryBackoff = remote.Backoff{Duration: 500 * time.Millisecond, Factor: 3, Jitter: 0.1, Steps: 3}

var retryStatusCodes = []int{
	http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
	http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout,
}

// baseTransport is what every IO sends through: remote.DefaultTransport
// (proxy from the environment, dial and TLS handshake bounded), one pool
// of connections for the process. The stallTransport around it bounds
// every other wait, with a message that says what was waited for.
var baseTransport http.RoundTripper = remote.DefaultTransport

// stallTransport fails a request that makes no progress for timeout:
// connecting, sending the request (the registry accepts no more bytes),
// waiting for the answer or reading it. Time the caller spends producing
// the request body or consuming the response does not count.
type stallTransport struct {
	base    http.RoundTripper
	timeout time.Duration
	err     error // a configuration error every request returns
}

func (t *stallTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.err != nil {
		return nil, t.err
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	w := newWatchdog(t.timeout, func(sent int64) {
		cancel(&StallError{Host: req.URL.Host, Action: describeRequest(req), Limit: t.timeout, Sent: sent})
	})
	r := req.Clone(ctx)
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &sendBody{rc: r.Body, w: w}
		if gb := req.GetBody; gb != nil {
			r.GetBody = func() (io.ReadCloser, error) {
				b, err := gb()
				if err != nil || b == http.NoBody {
					return b, err
				}
				return &sendBody{rc: b, w: w}, nil
			}
		}
	}
	w.update(func() { w.inRoundTrip = true })
	resp, err := t.base.RoundTrip(r)
	w.update(func() { w.inRoundTrip = false })
	if err != nil {
		w.close()
		err = stallCause(ctx, err)
		cancel(nil)
		return nil, err
	}
	resp.Body = &receiveBody{rc: resp.Body, w: w, ctx: ctx, cancel: cancel}
	return resp, nil
}

// stallCause is the StallError that ended ctx, else err.
func stallCause(ctx context.Context, err error) error {
	var se *StallError
	if errors.As(context.Cause(ctx), &se) {
		return se
	}
	return err
}

// watchdog runs a timer while the request waits on the network and fires
// once when it runs out. Every change of state is progress.
type watchdog struct {
	mu      sync.Mutex
	timer   *time.Timer
	timeout time.Duration
	expires time.Time
	armed   bool
	done    bool
	sent    atomic.Int64

	inRoundTrip bool // the request is being sent or its answer awaited
	producing   int  // reads of the request body in progress (caller's time)
	receiving   int  // reads of the response body in progress (network time)
}

func newWatchdog(timeout time.Duration, fire func(sent int64)) *watchdog {
	w := &watchdog{timeout: timeout}
	w.timer = time.AfterFunc(timeout, func() {
		w.mu.Lock()
		stalled := w.armed && !w.done && !time.Now().Before(w.expires)
		if stalled {
			w.done = true
		}
		w.mu.Unlock()
		if stalled {
			fire(w.sent.Load())
		}
	})
	w.timer.Stop()
	return w
}

// update changes the state under the lock and re-arms or stops the timer.
func (w *watchdog) update(f func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f()
	w.armed = !w.done && ((w.inRoundTrip && w.producing == 0) || w.receiving > 0)
	if w.armed {
		w.expires = time.Now().Add(w.timeout)
		w.timer.Reset(w.timeout)
	} else {
		w.timer.Stop()
	}
}

func (w *watchdog) close() { w.update(func() { w.done = true }) }

// sendBody is a request body: the time between reads is the network's.
type sendBody struct {
	rc io.ReadCloser
	w  *watchdog
}

func (b *sendBody) Read(p []byte) (int, error) {
	b.w.update(func() { b.w.producing++ })
	n, err := b.rc.Read(p)
	b.w.sent.Add(int64(n))
	b.w.update(func() { b.w.producing-- })
	return n, err
}

func (b *sendBody) Close() error { return b.rc.Close() }

// receiveBody is a response body: the time inside a read is the network's.
type receiveBody struct {
	rc     io.ReadCloser
	w      *watchdog
	ctx    context.Context
	cancel context.CancelCauseFunc
}

func (b *receiveBody) Read(p []byte) (int, error) {
	b.w.update(func() { b.w.receiving++ })
	n, err := b.rc.Read(p)
	b.w.update(func() { b.w.receiving-- })
	if err != nil && err != io.EOF {
		err = stallCause(b.ctx, err)
	}
	return n, err
}

func (b *receiveBody) Close() error {
	b.w.close()
	err := b.rc.Close()
	b.cancel(nil)
	return err
}

// StallError is a registry request that made no progress for Limit.
type StallError struct {
	Host   string        // the server, host[:port]
	Action string        // what kiln was doing, e.g. "uploading a blob to team/app"
	Limit  time.Duration // the bound (WithTimeout, KILN_REGISTRY_TIMEOUT)
	Sent   int64         // request body bytes sent before the stall
}

func (e *StallError) Error() string {
	sent := ""
	if e.Sent > 0 {
		sent = fmt.Sprintf(" (%s sent)", byteCount(e.Sent))
	}
	return fmt.Sprintf("%s%s: no answer from %s for %s (%s)", e.Action, sent, e.Host, e.Limit, TimeoutEnv)
}

// Timeout reports true, as net.Error does for timeouts.
func (e *StallError) Timeout() bool { return true }

func byteCount(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// describeRequest says what a registry API request does.
func describeRequest(r *http.Request) string {
	rest, ok := strings.CutPrefix(r.URL.Path, "/v2/")
	if !ok {
		return fmt.Sprintf("%s %s://%s%s", r.Method, r.URL.Scheme, r.URL.Host, r.URL.Path) // a token server
	}
	if rest == "" {
		return "checking the registry API"
	}
	q := r.URL.Query()
	if i := strings.LastIndex(rest, "/manifests/"); i >= 0 {
		repo, ref := rest[:i], rest[i+len("/manifests/"):]
		if r.Method == http.MethodPut {
			return fmt.Sprintf("pushing manifest %s:%s", repo, ref)
		}
		return fmt.Sprintf("reading manifest %s:%s", repo, ref)
	}
	if i := strings.LastIndex(rest, "/blobs/uploads"); i >= 0 {
		repo := rest[:i]
		switch {
		case q.Get("digest") != "":
			return fmt.Sprintf("finishing the upload of blob %s to %s", q.Get("digest"), repo)
		case q.Get("mount") != "":
			return fmt.Sprintf("mounting blob %s into %s", q.Get("mount"), repo)
		case r.Method == http.MethodPost:
			return "starting a blob upload to " + repo
		}
		return "uploading a blob to " + repo
	}
	if i := strings.LastIndex(rest, "/blobs/"); i >= 0 {
		repo, digest := rest[:i], rest[i+len("/blobs/"):]
		if r.Method == http.MethodHead {
			return fmt.Sprintf("checking for blob %s in %s", digest, repo)
		}
		return fmt.Sprintf("downloading blob %s from %s", digest, repo)
	}
	return r.Method + " " + r.URL.Path
}
