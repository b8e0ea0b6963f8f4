package create

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPhaseTimer(t *testing.T) {
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := base
	var got []Event
	timer := NewPhaseTimer(eventRecorder(func(e Event) { got = append(got, e) }))
	timer.now = func() time.Time { return clock }
	tick := func(d time.Duration) { clock = clock.Add(d) }

	timer.beginPhase("analyze")
	tick(time.Second)
	timer.beginPhase("detect")
	timer.Event(Event{Phase: "detect", Kind: Step, Message: "DETECTING"}) // same phase: no new one
	tick(2 * time.Second)
	timer.Event(Event{Phase: "build", Kind: Info, Message: "not a step"})
	timer.Event(Event{Phase: "build", Kind: Step, Message: "BUILDING"})
	tick(3 * time.Second)
	timer.beginPhase("export")
	tick(4 * time.Second)

	want := []PhaseTime{
		{"analyze", base, time.Second},
		{"detect", base.Add(time.Second), 2 * time.Second},
		{"build", base.Add(3 * time.Second), 3 * time.Second},
		{"export", base.Add(6 * time.Second), 4 * time.Second},
	}
	if d := cmp.Diff(want, timer.Phases()); d != "" {
		t.Errorf("phases (-want +got):\n%s", d)
	}
	if len(got) != 3 {
		t.Errorf("%d events passed on, want 3", len(got))
	}
}

// eventRecorder is a Log calling f for each event.
type eventRecorder func(Event)

func (f eventRecorder) Event(e Event)               { f(e) }
func (f eventRecorder) Write(p []byte) (int, error) { return len(p), nil }
