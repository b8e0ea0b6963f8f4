package linewriter

import (
	"bytes"
	"io"
	"sync"
)

// MaxLine bounds the part of a line kept while waiting for its newline.
const MaxLine = 64 << 10

// Prefix writes every line it receives to its destination behind a
// prefix. It is safe for concurrent use; Flush writes what is left of a
// last line without a newline.
type Prefix struct {
	mu     sync.Mutex
	w      io.Writer
	prefix []byte
	buf    []byte
}

// New returns a Prefix writing to w.
func New(w io.Writer, prefix string) *Prefix {
	return &Prefix{w: w, prefix: []byte(prefix)}
}

func (p *Prefix) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		next := i + 1 // where the rest starts after this line
		switch {
		case i < 0 && len(p.buf) < MaxLine:
			return len(b), nil
		case i < 0 || i > MaxLine:
			i, next = MaxLine, MaxLine
		}
		line := append(append([]byte{}, p.buf[:i]...), '\n')
		p.buf = p.buf[next:]
		if err := p.emit(line); err != nil {
			return len(b), err
		}
	}
}

// Flush writes a pending incomplete line, ending it with a newline.
func (p *Prefix) Flush() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) == 0 {
		return nil
	}
	line := append(p.buf, '\n')
	p.buf = nil
	return p.emit(line)
}

func (p *Prefix) emit(line []byte) error {
	out := make([]byte, 0, len(p.prefix)+len(line))
	out = append(out, p.prefix...)
	out = append(out, line...)
	_, err := p.w.Write(out)
	return err
}
