package work

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/kiln-build/kiln/internal/service/store"
)

// logFlushSize is the buffered log that is written out at once, before
// the next tick.
const logFlushSize = 16 << 10

// logMaxBuffer is the most log kept in memory while the database does
// not take it; a writer past it waits for a flush.
const logMaxBuffer = 4 << 20

// logWriter appends a running build's output to its log in the database
// in chunks: every LogFlush interval, or as soon as 16 KiB are waiting.
// The output is the build's, which is untrusted: past room bytes it is
// left out (with a line saying so), so a build cannot fill the database.
type logWriter struct {
	s    *Worker
	id   int64
	mu   sync.Mutex
	buf  []byte
	room int64 // bytes of output the log still takes
	cut  bool  // output was left out
	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

// newLogWriter writes build id's log, which holds size bytes so far, up
// to MaxLogSize.
func newLogWriter(s *Worker, id, size int64) *logWriter {
	w := &logWriter{s: s, id: id, room: s.o.MaxLogSize - size,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go w.loop()
	return w
}

// Write buffers p, or what of it fits in the log; it never fails (a
// database that does not take the log costs log lines, not the build).
func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	if int64(len(p)) > w.room {
		if !w.cut {
			w.buf = append(w.buf, p[:max(w.room, 0)]...)
			w.buf = fmt.Appendf(w.buf, "\nkiln serve: the build's log reached %d bytes; the rest of its output is left out\n", w.s.o.MaxLogSize)
			w.cut = true
		}
		w.room = 0
	} else {
		w.buf = append(w.buf, p...)
		w.room -= int64(len(p))
	}
	n := len(w.buf)
	w.mu.Unlock()
	w.written(n)
	return len(p), nil
}

// Note adds a line of kiln serve's own to the log, past MaxLogSize too.
func (w *logWriter) Note(format string, a ...any) {
	w.mu.Lock()
	w.buf = fmt.Appendf(w.buf, format+"\n", a...)
	n := len(w.buf)
	w.mu.Unlock()
	w.written(n)
}

// written kicks or makes a flush when n bytes wait.
func (w *logWriter) written(n int) {
	if n >= logFlushSize {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	if n >= logMaxBuffer {
		w.flush()
	}
}

func (w *logWriter) loop() {
	defer close(w.done)
	t := time.NewTicker(w.s.o.LogFlush)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			w.flush()
			return
		case <-t.C:
		case <-w.kick:
		}
		w.flush()
	}
}

// flush writes out what is buffered; on failure it stays buffered, up to
// logMaxBuffer.
func (w *logWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := w.s.db.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.AppendLog(ctx, w.id, w.buf)
		return err
	})
	if err != nil {
		w.s.o.Logger.Warn("writing a build log", "build", w.id, "err", err)
		if len(w.buf) > logMaxBuffer {
			w.buf = append(w.buf[:0], w.buf[len(w.buf)-logMaxBuffer:]...)
		}
		return
	}
	w.buf = w.buf[:0]
	w.s.changed(w.id)
}

// Close writes out the rest and stops.
func (w *logWriter) Close() {
	close(w.stop)
	<-w.done
}
