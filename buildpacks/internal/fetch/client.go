package fetch

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// Client downloads over HTTP(S). The zero value is not usable; call New.
type Client struct {
	// HTTP is the client used for every request. New sets one built on
	// http.DefaultTransport (system certificate pool, proxy variables).
	HTTP *http.Client
	// CacheDir, when not empty, keeps downloads and documents between
	// runs.
	CacheDir string
	// Logf reports downloads; nil is silent.
	Logf func(format string, args ...any)
	// Attempts is how often a request is tried (default 3).
	Attempts int
	// UserAgent is sent with every request.
	UserAgent string
	// Backoff is the wait before the second attempt; it grows linearly
	// (default 1s).
	Backoff time.Duration
}

// New returns a Client with a cache in cacheDir ("" for none) that logs
// with logf (nil for none).
func New(cacheDir string, logf func(string, ...any)) *Client {
	return &Client{
		HTTP:      &http.Client{Timeout: 30 * time.Minute},
		CacheDir:  cacheDir,
		Logf:      logf,
		Attempts:  3,
		Backoff:   time.Second,
		UserAgent: "kiln-buildpacks/0.1",
	}
}

func (c *Client) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

// StatusError is a response with an unexpected HTTP status.
type StatusError struct {
	URL    string
	Status string
	Code   int
}

func (e *StatusError) Error() string { return fmt.Sprintf("GET %s: %s", e.URL, e.Status) }

// NotFound reports whether err is a 404 or 410 answer.
func NotFound(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && (se.Code == http.StatusNotFound || se.Code == http.StatusGone)
}

func retryable(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code >= 500 || se.Code == http.StatusTooManyRequests
	}
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) {
		return false // trying again will not make the certificate trusted
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// do sends a GET with headers and returns the response of the first
// attempt that is neither a network error nor a retryable status.
func (c *Client) do(ctx context.Context, url string, header http.Header) (*http.Response, error) {
	attempts := c.Attempts
	if attempts < 1 {
		attempts = 1
	}
	var last error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(i) * c.Backoff):
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, fmt.Errorf("GET %s: %w", url, err)
		}
		for k, v := range header {
			req.Header[k] = v
		}
		if c.UserAgent != "" {
			req.Header.Set("User-Agent", c.UserAgent)
		}
		resp, err := c.HTTP.Do(req)
		if err != nil {
			last = fmt.Errorf("GET %s: %w", url, err)
		} else if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNotModified {
			return resp, nil
		} else {
			resp.Body.Close()
			last = &StatusError{URL: url, Status: resp.Status, Code: resp.StatusCode}
		}
		if !retryable(last) {
			return nil, last
		}
	}
	return nil, last
}

func (c *Client) cachePath(kind, url string) string {
	sum := sha256.Sum256([]byte(url))
	return filepath.Join(c.CacheDir, kind, hex.EncodeToString(sum[:]))
}

// Download saves url to dest, verifying it against want when want is not
// nil (a mismatch is an error and leaves no file). With a cache
// directory, a verified earlier download of the same URL is copied
// instead; without want, URLs are taken to be immutable.
func (c *Client) Download(ctx context.Context, url, dest string, want *Digest) error {
	if c.CacheDir != "" {
		cached := c.cachePath("files", url)
		if err := verifyFile(cached, want); err == nil {
			c.logf("Using %s from the download cache", url)
			return copyFile(cached, dest)
		}
	}
	if err := c.download(ctx, url, dest, want); err != nil {
		return err
	}
	if c.CacheDir != "" {
		cached := c.cachePath("files", url)
		if err := os.MkdirAll(filepath.Dir(cached), 0o755); err == nil {
			_ = copyFile(dest, cached) // the cache is best effort
		}
	}
	return nil
}

func (c *Client) download(ctx context.Context, url, dest string, want *Digest) error {
	resp, err := c.do(ctx, url, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	size := ""
	if resp.ContentLength > 0 {
		size = fmt.Sprintf(" (%.1f MB)", float64(resp.ContentLength)/1e6)
	}
	c.logf("Downloading %s%s", url, size)
	start := time.Now()
	tmp := dest + ".partial"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("creating %s: %w", tmp, err)
	}
	defer os.Remove(tmp)
	w := io.Writer(f)
	var h interface {
		io.Writer
		Sum([]byte) []byte
	}
	if want != nil {
		hh, err := want.newHash()
		if err != nil {
			f.Close()
			return err
		}
		h = hh
		w = io.MultiWriter(f, h)
	}
	n, err := io.Copy(w, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("downloading %s to %s: %w", url, dest, err)
	}
	if resp.ContentLength > 0 && n != resp.ContentLength {
		return fmt.Errorf("downloading %s: got %d of %d bytes", url, n, resp.ContentLength)
	}
	if want != nil {
		if got := h.Sum(nil); !want.matches(got) {
			return fmt.Errorf("downloading %s: checksum mismatch: got %s:%s, want %s", url, want.Algorithm, hex.EncodeToString(got), want)
		}
	}
	if err := os.Rename(tmp, dest); err != nil {
		return fmt.Errorf("saving %s: %w", dest, err)
	}
	c.logf("Downloaded %.1f MB in %s", float64(n)/1e6, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// verifyFile checks that path exists and, with want, has that digest.
func verifyFile(path string, want *Digest) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if want == nil {
		return nil
	}
	h, err := want.newHash()
	if err != nil {
		return err
	}
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if !want.matches(h.Sum(nil)) {
		return fmt.Errorf("%s: checksum mismatch", path)
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("opening %s: %w", src, err)
	}
	defer in.Close()
	out, err := os.CreateTemp(filepath.Dir(dst), ".partial-*")
	if err != nil {
		return fmt.Errorf("creating a file beside %s: %w", dst, err)
	}
	tmp := out.Name()
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("saving %s: %w", dst, err)
	}
	return nil
}

// docMeta is what the cache keeps about a document for revalidation.
type docMeta struct {
	URL          string `json:"url"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
}

// Get returns the body of a small document (an index or a version list),
// limited to max bytes. With a cache directory the last copy is
// revalidated with If-None-Match / If-Modified-Since, and used as it is
// when the server cannot be reached.
func (c *Client) Get(ctx context.Context, url string, header http.Header, max int64) ([]byte, error) {
	var meta docMeta
	var cached []byte
	body, metaPath := "", ""
	if c.CacheDir != "" {
		body = c.cachePath("docs", url)
		metaPath = body + ".json"
		if b, err := os.ReadFile(body); err == nil {
			if m, err := os.ReadFile(metaPath); err == nil && json.Unmarshal(m, &meta) == nil && meta.URL == url {
				cached = b
			}
		}
	}
	h := http.Header{}
	for k, v := range header {
		h[k] = v
	}
	if cached != nil {
		if meta.ETag != "" {
			h.Set("If-None-Match", meta.ETag)
		}
		if meta.LastModified != "" {
			h.Set("If-Modified-Since", meta.LastModified)
		}
	}
	resp, err := c.do(ctx, url, h)
	if err != nil {
		if cached != nil && !NotFound(err) && ctx.Err() == nil {
			c.logf("WARNING: %v; using the copy from the download cache", err)
			return cached, nil
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified && cached != nil {
		return cached, nil
	}
	if resp.StatusCode == http.StatusNotModified {
		return nil, fmt.Errorf("GET %s: 304 Not Modified without a cached copy", url)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", url, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("reading %s: larger than %d bytes", url, max)
	}
	if c.CacheDir != "" {
		meta = docMeta{URL: url, ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}
		if err := os.MkdirAll(filepath.Dir(body), 0o755); err == nil {
			if m, err := json.Marshal(meta); err == nil && writeAtomic(body, data) == nil {
				_ = writeAtomic(metaPath, m)
			}
		}
	}
	return data, nil
}

func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".partial-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
