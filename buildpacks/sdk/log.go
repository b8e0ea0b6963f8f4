package sdk

import (
	"bytes"
	"fmt"
	"io"
	"sync"
)

// Logger writes a buildpack's build log: a header naming the buildpack,
// then steps and details indented beneath it, so that a user reading a
// long build log sees which buildpack decided what. It is safe for
// concurrent use.
type Logger struct {
	mu sync.Mutex
	w  io.Writer
}

// NewLogger returns a Logger writing to w.
func NewLogger(w io.Writer) *Logger { return &Logger{w: w} }

// Header starts a buildpack's section of the log.
func (l *Logger) Header(format string, args ...any) {
	l.printf("\n===> "+format+"\n", args...)
}

// Step reports a decision or an action.
func (l *Logger) Step(format string, args ...any) {
	l.printf("  "+format+"\n", args...)
}

// Detail adds supporting information to the last step.
func (l *Logger) Detail(format string, args ...any) {
	l.printf("      "+format+"\n", args...)
}

// Warn reports something the user should probably change.
func (l *Logger) Warn(format string, args ...any) {
	l.printf("  WARNING: "+format+"\n", args...)
}

func (l *Logger) printf(format string, args ...any) {
	if l == nil || l.w == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, args...)
}

// Writer returns a writer whose lines are written to the log indented
// under the current step, for the output of commands a buildpack runs.
// Close flushes a last unterminated line.
func (l *Logger) Writer() io.WriteCloser {
	return &indentWriter{l: l, prefix: "      "}
}

type indentWriter struct {
	l      *Logger
	prefix string
	buf    []byte
}

func (w *indentWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.l.printf("%s%s\n", w.prefix, w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (w *indentWriter) Close() error {
	if len(w.buf) > 0 {
		w.l.printf("%s%s\n", w.prefix, w.buf)
		w.buf = nil
	}
	return nil
}
