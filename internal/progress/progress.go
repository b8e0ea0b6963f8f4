package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	units "github.com/docker/go-units"
	"github.com/mattn/go-isatty"
)

// MinBytes is the smallest transfer shown.
const MinBytes = 4 << 20

// every is how often the line is redrawn.
const every = 250 * time.Millisecond

// IsTerminal says whether w is a terminal; tests replace it.
var IsTerminal = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// Line is one transfer's progress line; a nil *Line does nothing.
type Line struct {
	w     io.Writer
	what  string
	start time.Time
	now   func() time.Time

	mu          sync.Mutex
	done, total int64
	drawn       time.Time
	shown       bool
	ended       bool
}

// New returns the progress line of a transfer described by what (e.g.
// "Pushing registry.example/app:latest") on w, or nil when w is not a
// terminal.
func New(w io.Writer, what string) *Line {
	if w == nil || !IsTerminal(w) {
		return nil
	}
	return &Line{w: w, what: what, start: time.Now(), now: time.Now}
}

// Update records done of total bytes and redraws the line, at most every
// 250 ms, once the total reaches MinBytes.
func (l *Line) Update(done, total int64) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		return
	}
	l.done, l.total = done, total
	if total < MinBytes {
		return
	}
	if now := l.now(); l.shown && now.Sub(l.drawn) < every && done < total {
		return
	}
	l.draw()
}

// End draws the final state and ends the line (when it was shown).
func (l *Line) End() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		return
	}
	l.ended = true
	if l.shown {
		l.draw()
		fmt.Fprintln(l.w)
	}
}

// draw writes the line over the previous one.
func (l *Line) draw() {
	now := l.now()
	l.drawn, l.shown = now, true
	secs := now.Sub(l.start).Seconds()
	rate := ""
	if secs > 0.05 {
		rate = fmt.Sprintf(", %s/s", units.HumanSize(float64(l.done)/secs))
	}
	pct := 0
	if l.total > 0 {
		pct = int(l.done * 100 / l.total)
	}
	fmt.Fprintf(l.w, "\r\x1b[K%s: %s / %s (%d%%%s)", l.what, units.HumanSize(float64(l.done)), units.HumanSize(float64(l.total)), pct, rate)
}
