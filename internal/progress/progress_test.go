package progress

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

func TestLine(t *testing.T) {
	defer func(f func(io.Writer) bool) { IsTerminal = f }(IsTerminal)
	var buf bytes.Buffer
	if New(&buf, "Pushing x") != nil {
		t.Fatal("a line on a buffer, which is no terminal")
	}
	var nilLine *Line
	nilLine.Update(1, 2) // a nil line does nothing
	nilLine.End()

	IsTerminal = func(io.Writer) bool { return true }
	l := New(&buf, "Pushing x")
	at := l.start
	l.now = func() time.Time { return at }
	l.Update(1<<20, 2<<20) // below MinBytes: nothing
	l.End()
	if buf.Len() != 0 {
		t.Errorf("a small transfer drew %q", buf.String())
	}

	buf.Reset()
	l = New(&buf, "Pushing x")
	at = l.start
	l.now = func() time.Time { return at }
	at = at.Add(time.Second)
	l.Update(10<<20, 100<<20)
	at = at.Add(100 * time.Millisecond)
	l.Update(20<<20, 100<<20) // too soon: not drawn
	at = at.Add(time.Second)
	l.Update(100<<20, 100<<20)
	l.End()
	l.Update(1, 1) // after End: nothing
	out := buf.String()
	if n := strings.Count(out, "\r\x1b[K"); n != 3 {
		t.Errorf("drew %d times, want 3 (two updates and the end):\n%q", n, out)
	}
	for _, want := range []string{"Pushing x: 10.49MB / 104.9MB (10%, 10.49MB/s)", "104.9MB / 104.9MB (100%", "\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%q", want, out)
		}
	}
}
