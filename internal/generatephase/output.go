package generatephase

import (
	"bytes"
	"io"
	"sync"
)

// maxLine bounds the part of a line kept while waiting for its newline.
const maxLine = 64 << 10

// prefixWriter writes every line it receives to w behind a prefix, so
// each extension's output stays attributable. A line longer than maxLine
// is written in pieces.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix []byte
	buf    []byte
}

func newPrefixWriter(w io.Writer, prefix string) *prefixWriter {
	return &prefixWriter{w: w, prefix: []byte(prefix)}
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		next := i + 1 // where the rest starts after this line
		switch {
		case i < 0 && len(p.buf) < maxLine:
			return len(b), nil
		case i < 0 || i > maxLine:
			i, next = maxLine, maxLine
		}
		line := append(append([]byte{}, p.buf[:i]...), '\n')
		p.buf = p.buf[next:]
		if err := p.emit(line); err != nil {
			return len(b), err
		}
	}
}

// Flush writes a pending incomplete line, ending it with a newline.
func (p *prefixWriter) Flush() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) == 0 {
		return nil
	}
	line := append(p.buf, '\n')
	p.buf = nil
	return p.emit(line)
}

func (p *prefixWriter) emit(line []byte) error {
	_, err := p.w.Write(append(append([]byte{}, p.prefix...), line...))
	return err
}
