package staticserve

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure Handler.
type Options struct {
	// Root is the directory to serve.
	Root string
	// NotFound is the page served with status 404, relative to Root
	// ("404.html" when empty). A missing page gives a plain text answer.
	NotFound string
	// SPA serves index.html (status 200) for unknown paths without a file
	// extension, for apps that route in the browser.
	SPA bool
	// MaxCompress is the largest file gzipped on the fly and kept in
	// memory (default 8 MiB); larger files are sent as they are.
	MaxCompress int64
}

// Handler serves static files.
type Handler struct {
	opts Options
	root *os.Root

	mu    sync.Mutex
	cache map[string]*entry // by path, size and modification time
}

// entry is what the handler remembers about one file version.
type entry struct {
	etag string
	gz   []byte // gzipped content, nil when not compressed
}

// New returns a Handler for opts.
func New(opts Options) (*Handler, error) {
	if opts.NotFound == "" {
		opts.NotFound = "404.html"
	}
	if opts.MaxCompress == 0 {
		opts.MaxCompress = 8 << 20
	}
	root, err := os.OpenRoot(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("opening the site root %s: %w", opts.Root, err)
	}
	return &Handler{opts: opts, root: root, cache: map[string]*entry{}}, nil
}

// Close releases the root directory.
func (h *Handler) Close() error { return h.root.Close() }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	name, ok := h.resolve(r.URL.Path)
	switch {
	case ok:
		h.serveFile(w, r, name, http.StatusOK)
	case h.opts.SPA && path.Ext(r.URL.Path) == "" && h.isFile("index.html"):
		h.serveFile(w, r, "index.html", http.StatusOK)
	default:
		h.notFound(w, r)
	}
}

// resolve maps a URL path to a file below the root: the file itself,
// <dir>/index.html for a directory, or <path>.html ("pretty" URLs).
func (h *Handler) resolve(urlPath string) (string, bool) {
	clean := path.Clean("/" + urlPath)
	for _, seg := range strings.Split(clean, "/") {
		if strings.HasPrefix(seg, ".") && seg != ".well-known" {
			return "", false
		}
	}
	name := strings.TrimPrefix(clean, "/")
	if name == "" {
		name = "."
	}
	fi, err := h.root.Stat(name)
	switch {
	case err == nil && fi.IsDir():
		idx := path.Join(name, "index.html")
		return idx, h.isFile(idx)
	case err == nil && fi.Mode().IsRegular():
		return name, true
	}
	if path.Ext(name) == "" && h.isFile(name+".html") {
		return name + ".html", true
	}
	return "", false
}

func (h *Handler) isFile(name string) bool {
	fi, err := h.root.Stat(name)
	return err == nil && fi.Mode().IsRegular()
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	if h.isFile(h.opts.NotFound) {
		h.serveFile(w, r, h.opts.NotFound, http.StatusNotFound)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	http.Error(w, "404 page not found", http.StatusNotFound)
}

var compressible = regexp.MustCompile(`^(text/|application/(javascript|json|xml|wasm|manifest\+json|ld\+json|rss\+xml|atom\+xml)|image/svg\+xml)`)

// cacheControl is the caching policy for a file name.
func cacheControl(name, ctype string) string {
	base := path.Base(name)
	switch {
	case strings.HasPrefix(ctype, "text/html"):
		return "no-cache"
	case isFingerprinted(base):
		return "public, max-age=31536000, immutable"
	}
	return "public, max-age=300"
}

// isFingerprinted reports whether a file name carries a content hash, as
// bundlers write them: a part between the first and the extension, split
// at '.' and '-', of 8 or more characters that is all hex digits or mixes
// letters and digits (app.3f9a8b7c.js, main-B7xQ2k9Z.css).
func isFingerprinted(base string) bool {
	parts := strings.FieldsFunc(base, func(r rune) bool { return r == '.' || r == '-' })
	if len(parts) < 3 {
		return false
	}
	for _, p := range parts[1 : len(parts)-1] {
		if len(p) < 8 {
			continue
		}
		hex, letters, digits, other := true, false, false, false
		for _, c := range p {
			switch {
			case c >= '0' && c <= '9':
				digits = true
			case c >= 'a' && c <= 'f':
				letters = true
			case c >= 'A' && c <= 'Z', c >= 'g' && c <= 'z', c == '_':
				letters, hex = true, false
			default:
				other = true
			}
		}
		if !other && (hex && digits || letters && digits) {
			return true
		}
	}
	return false
}

func contentType(name string, head []byte) string {
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return http.DetectContentType(head)
}

func (h *Handler) serveFile(w http.ResponseWriter, r *http.Request, name string, status int) {
	f, err := h.root.Open(name)
	if err != nil {
		h.fail(w, err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		h.fail(w, err)
		return
	}
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	ctype := contentType(name, head[:n])
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		h.fail(w, err)
		return
	}
	e, err := h.entryFor(name, fi, f, ctype)
	if err != nil {
		h.fail(w, err)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", ctype)
	if status == http.StatusOK {
		hdr.Set("Cache-Control", cacheControl(name, ctype))
	} else {
		hdr.Set("Cache-Control", "no-cache")
	}
	useGzip := acceptsGzip(r) && compressible.MatchString(ctype) && fi.Size() >= 256
	if useGzip || e.gz != nil || h.hasGz(name) {
		hdr.Add("Vary", "Accept-Encoding")
	}
	if useGzip {
		if gz := h.gzipped(name, e); gz != nil {
			h.serveBytes(w, r, gz, e.etag[:len(e.etag)-1]+`-gz"`, status, "gzip")
			return
		}
	}
	if status != http.StatusOK {
		// error pages: no ranges or conditional answers
		hdr.Set("Content-Length", fmt.Sprint(fi.Size()))
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			io.Copy(w, f)
		}
		return
	}
	hdr.Set("ETag", e.etag)
	// a zero time: file times in images say nothing about the content
	http.ServeContent(w, r, name, time.Time{}, f)
}

// serveBytes writes a precomputed body, answering If-None-Match.
func (h *Handler) serveBytes(w http.ResponseWriter, r *http.Request, body []byte, etag string, status int, encoding string) {
	hdr := w.Header()
	if status == http.StatusOK {
		hdr.Set("ETag", etag)
		if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	hdr.Set("Content-Encoding", encoding)
	hdr.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(t), "W/"))
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// acceptsGzip reports whether the request's Accept-Encoding allows gzip
// with a quality above zero.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(enc), "gzip") {
			continue
		}
		for _, p := range strings.Split(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(k, "q") {
				q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				return err == nil && q > 0
			}
		}
		return true
	}
	return false
}

// entryFor returns the remembered entry of this version of the file,
// hashing it the first time.
func (h *Handler) entryFor(name string, fi fs.FileInfo, f io.ReadSeeker, ctype string) (*entry, error) {
	key := fmt.Sprintf("%s\x00%d\x00%d", name, fi.Size(), fi.ModTime().UnixNano())
	h.mu.Lock()
	e, ok := h.cache[key]
	h.mu.Unlock()
	if ok {
		return e, nil
	}
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	e = &entry{etag: `"` + base64.RawURLEncoding.EncodeToString(sum.Sum(nil)[:18]) + `"`}
	h.mu.Lock()
	h.cache[key] = e
	h.mu.Unlock()
	return e, nil
}

func (h *Handler) hasGz(name string) bool { return h.isFile(name + ".gz") }

// gzipped returns the gzipped content: a precompressed <name>.gz, or the
// file compressed once and kept; nil when the file is too large.
func (h *Handler) gzipped(name string, e *entry) []byte {
	h.mu.Lock()
	gz := e.gz
	h.mu.Unlock()
	if gz != nil {
		return gz
	}
	if b, err := h.readLimited(name+".gz", h.opts.MaxCompress); err == nil {
		gz = b
	} else {
		raw, err := h.readLimited(name, h.opts.MaxCompress)
		if err != nil {
			return nil
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(raw)
		zw.Close()
		gz = buf.Bytes()
	}
	h.mu.Lock()
	e.gz = gz
	h.mu.Unlock()
	return gz
}

func (h *Handler) readLimited(name string, max int64) ([]byte, error) {
	f, err := h.root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, errors.New("too large")
	}
	return b, nil
}

func (h *Handler) fail(w http.ResponseWriter, err error) {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	http.Error(w, "500 internal server error", http.StatusInternalServerError)
}
