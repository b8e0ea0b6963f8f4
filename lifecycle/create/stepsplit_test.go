package create

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// recordLog keeps a Log's output and step events in order.
type recordLog struct{ got []string }

func (r *recordLog) Event(e Event) { r.got = append(r.got, "STEP "+e.Phase+": "+e.Message) }
func (r *recordLog) Write(p []byte) (int, error) {
	if n := len(r.got); n > 0 && !strings.HasPrefix(r.got[n-1], "STEP ") {
		r.got[n-1] += string(p)
	} else {
		r.got = append(r.got, string(p))
	}
	return len(p), nil
}

func TestStepSplitter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		writes []string
		want   []string
	}{
		{"marker alone", []string{"===> BUILDING\n"}, []string{"STEP build: BUILDING"}},
		{"marker between lines", []string{"detect out\n===> BUILDING\nbuild out\n"},
			[]string{"detect out\n", "STEP build: BUILDING", "build out\n"}},
		{"marker cut across writes", []string{"a\n===", "> BUIL", "DING", "\nb\n"},
			[]string{"a\n", "STEP build: BUILDING", "b\n"}},
		{"marker in mid-line is output", []string{"say ===> BUILDING\n"}, []string{"say ===> BUILDING\n"}},
		{"a longer line is output", []string{"===> BUILDING now\n"}, []string{"===> BUILDING now\n"}},
		{"a prefix then something else", []string{"===> BU", "ILT\n", "x"}, []string{"===> BUILT\nx"}},
		{"empty lines", []string{"\n\n===> BUILDING\n\n"}, []string{"\n\n", "STEP build: BUILDING", "\n"}},
		{"output ends inside a candidate", []string{"===> BUILD"}, []string{"===> BUILD"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := &recordLog{}
			s := newStepSplitter(log, Event{Phase: "build", Kind: Step, Message: "BUILDING"})
			for _, w := range tc.writes {
				if n, err := s.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			s.Flush()
			if d := cmp.Diff(tc.want, log.got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}
