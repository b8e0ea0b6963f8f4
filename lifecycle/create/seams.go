package create

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/sandbox"
)

// Images reads the builder, run and previous images and writes the app
// image. *imageio.IO is the real one.
type Images interface {
	// Open returns the image at loc; a store location falls back to its
	// registry when remoteFallback is set. An image that does not exist
	// is an error imageio.IsNotFound recognises.
	Open(ctx context.Context, loc imageio.Location, remoteFallback bool) (v1.Image, error)
	// Write puts img at loc; nothing is visible there unless it succeeds.
	Write(ctx context.Context, loc imageio.Location, img v1.Image) error
	// CheckWritable fails when loc will not take the image.
	CheckWritable(ctx context.Context, loc imageio.Location) error
}

var _ Images = (*imageio.IO)(nil)

// Sandbox runs one process in a build container and returns its exit code;
// an error means the container could not be run at all. sandbox.Run
// (runc) is the real one.
type Sandbox interface {
	Run(ctx context.Context, cfg sandbox.Config) (int, error)
}

// SandboxFunc makes a function a Sandbox.
type SandboxFunc func(ctx context.Context, cfg sandbox.Config) (int, error)

// Run calls f.
func (f SandboxFunc) Run(ctx context.Context, cfg sandbox.Config) (int, error) { return f(ctx, cfg) }

var _ Sandbox = SandboxFunc(sandbox.Run)

// EventKind says what an Event reports.
type EventKind int

// The kinds of event a build reports.
const (
	// Step is a phase starting or a result worth a headline
	// ("DETECTING", "IMAGE ...").
	Step EventKind = iota
	// Info is a detail of a phase ("Adding layer ...").
	Info
	// Warning is something that went wrong without failing the build.
	Warning
)

// Event is one line of a build's progress.
type Event struct {
	// Phase is the step that reports it: analyze, builder, run image,
	// prepare, detect, restore, build, export or cache.
	Phase   string
	Kind    EventKind
	Message string
}

// Log receives a build's progress: its steps, details and warnings as
// events, and the buildpacks' own output (the build containers' stdout
// and stderr) as bytes through Write. Both may be called from more than
// one goroutine.
type Log interface {
	Event(Event)
	io.Writer
}

// TextLog writes a build's log as kiln prints it: steps as "===> STEP",
// warnings as "warning: ...", the rest as they are.
type TextLog struct {
	mu sync.Mutex
	w  io.Writer
}

var _ Log = (*TextLog)(nil)

// NewTextLog returns a TextLog writing to w (nil discards).
func NewTextLog(w io.Writer) *TextLog {
	if w == nil {
		w = io.Discard
	}
	return &TextLog{w: w}
}

// Event writes e as one line.
func (l *TextLog) Event(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch e.Kind {
	case Step:
		fmt.Fprintf(l.w, "===> %s\n", e.Message)
	case Warning:
		fmt.Fprintf(l.w, "warning: %s\n", e.Message)
	default:
		fmt.Fprintln(l.w, e.Message)
	}
}

// Write passes the buildpacks' output through.
func (l *TextLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// reporter sends one phase's events to a Log.
type reporter struct {
	log   Log
	phase string
}

func (r reporter) step(format string, a ...any) { r.emit(Step, format, a...) }
func (r reporter) info(format string, a ...any) { r.emit(Info, format, a...) }
func (r reporter) warn(format string, a ...any) { r.emit(Warning, format, a...) }

func (r reporter) emit(k EventKind, format string, a ...any) {
	r.log.Event(Event{Phase: r.phase, Kind: k, Message: fmt.Sprintf(format, a...)})
}

// lines is an io.Writer for code that reports progress as text lines
// (the exporter, the builder's unpacking): each line becomes an Info event.
type lines struct {
	r   reporter
	mu  sync.Mutex
	buf []byte
}

func infoLines(log Log, phase string) *lines { return &lines{r: reporter{log, phase}} }

func (w *lines) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.r.info("%s", w.buf[:i])
		w.buf = w.buf[i+1:]
	}
}
