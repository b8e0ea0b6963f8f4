package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kiln-build/kiln/internal/service"
)

// sseKeepalive is how often an idle event stream gets a comment, so that
// proxies keep it open.
const sseKeepalive = 15 * time.Second

// sseBatch is the most log one event carries.
const sseBatch = 64 << 10

// buildLog answers with the build's log: as a Server-Sent Events stream
// when the client accepts one (live until the build ends; each event's id
// is the byte offset after it, so a client resumes with Last-Event-ID or
// ?offset=), else as plain text: the log so far, or with ?follow=1 the
// log as it grows until the build ends.
func (a *api) buildLog(w http.ResponseWriter, r *http.Request) {
	b := buildOf(r)
	offset, err := logOffset(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		a.sse(w, r, b.ID, offset)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Query().Get("follow") != "" {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = a.s.Follow(r.Context(), b.ID, offset, flusher{w})
		return
	}
	for offset < b.LogSize {
		data, err := a.s.ReadLog(r.Context(), b.ID, offset, 1<<20)
		if err != nil || len(data) == 0 {
			return
		}
		if _, err := w.Write(data); err != nil {
			return
		}
		offset += int64(len(data))
	}
}

// flusher flushes each write.
type flusher struct{ w http.ResponseWriter }

func (f flusher) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}

// logOffset is where a log read starts: Last-Event-ID, else ?offset=,
// else 0.
func logOffset(r *http.Request) (int64, error) {
	s := r.Header.Get("Last-Event-ID")
	if s == "" {
		s = r.URL.Query().Get("offset")
	}
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("log offset %q: want a byte offset: %w", s, service.ErrInvalid)
	}
	return n, nil
}

// sse streams build id's log from offset as events of whole lines, then
// an "end" event with the build as it ended.
func (a *api) sse(w http.ResponseWriter, r *http.Request, id, offset int64) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	out := flusher{w}
	fmt.Fprint(out, "retry: 2000\n\n")
	ctx := r.Context()
	quiet := time.Now()
	poll := a.s.Options().Poll
	defer a.s.Ended(id)
	for {
		changed := a.s.Changed(id)
		b, err := a.s.GetBuild(ctx, id)
		if err != nil {
			return
		}
		final := b.Status.Final()
		for offset < b.LogSize {
			data, err := a.s.ReadLog(ctx, id, offset, sseBatch)
			if err != nil || len(data) == 0 {
				return
			}
			n := sendable(data, final && offset+int64(len(data)) >= b.LogSize)
			if n == 0 {
				break // a partial line: wait for the rest
			}
			offset += int64(n)
			if _, err := out.Write(logEvent(data[:n], offset)); err != nil {
				return
			}
			quiet = time.Now()
		}
		if final && offset >= b.LogSize {
			end, _ := json.Marshal(b)
			fmt.Fprintf(out, "event: end\nid: %d\ndata: %s\n\n", offset, end)
			return
		}
		if time.Since(quiet) > sseKeepalive {
			if _, err := fmt.Fprint(out, ": keepalive\n\n"); err != nil {
				return
			}
			quiet = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-time.After(poll):
		}
	}
}

// sendable is how much of data goes into an event now: up to its last
// newline; all of it at the end of the log; or, for a line longer than an
// event, up to a character boundary.
func sendable(data []byte, last bool) int {
	if last {
		return len(data)
	}
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		return i + 1
	}
	if len(data) < sseBatch {
		return 0
	}
	n := len(data)
	for n > 0 && !utf8.RuneStart(data[n-1]) {
		n--
	}
	if n > 0 && !utf8.FullRune(data[n-1:]) {
		n--
	}
	return n
}

// logEvent is one event of log text: a "data:" field per line (line
// breaks normalised to \n, the text's last one dropped: a client adds a
// line break after each event's data), id the offset after it.
func logEvent(text []byte, next int64) []byte {
	s := strings.ReplaceAll(string(text), "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.TrimSuffix(s, "\n")
	var b bytes.Buffer
	fmt.Fprintf(&b, "id: %d\n", next)
	for _, line := range strings.Split(s, "\n") {
		b.WriteString("data: " + line + "\n")
	}
	b.WriteString("\n")
	return b.Bytes()
}
