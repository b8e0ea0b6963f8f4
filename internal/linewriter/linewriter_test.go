package linewriter

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPrefix(t *testing.T) {
	var buf bytes.Buffer
	w := New(&buf, "[bp] ")
	for _, chunk := range []string{"one\ntw", "o\n", "", "three\nfour"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil { // nothing left: writes nothing
		t.Fatal(err)
	}
	want := "[bp] one\n[bp] two\n[bp] three\n[bp] four\n"
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A line longer than MaxLine is written in pieces, with or without its
// newline yet.
func TestPrefixLongLine(t *testing.T) {
	var out bytes.Buffer
	p := New(&out, "> ")
	long := strings.Repeat("x", MaxLine+10)
	if _, err := p.Write([]byte(long + "\nshort")); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "> " + long[:MaxLine] + "\n> " + long[MaxLine:] + "\n> short\n"
	if out.String() != want {
		t.Errorf("output has %d bytes, want %d", out.Len(), len(want))
	}
	out.Reset()
	if _, err := p.Write([]byte(long)); err != nil { // no newline at all
		t.Fatal(err)
	}
	if out.Len() != len("> ")+MaxLine+1 {
		t.Errorf("an unended line of %d bytes wrote %d, want its first %d", len(long), out.Len(), MaxLine)
	}
}
