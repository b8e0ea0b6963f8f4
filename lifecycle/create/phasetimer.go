package create

import (
	"sync"
	"time"
)

// PhaseTime is how long one phase of a build took.
type PhaseTime struct {
	Name     string        `json:"name"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`
}

// PhaseTimer is a Log that times a build's phases on their way to
// another Log: a phase starts when the build begins its step or reports
// a Step event of a phase other than the current one (the build phase
// starts inside the detect step's container, with "BUILDING"), and ends
// when the next one starts or Phases is called.
type PhaseTimer struct {
	Log
	now    func() time.Time
	mu     sync.Mutex
	phases []PhaseTime
}

var _ Log = (*PhaseTimer)(nil)

// NewPhaseTimer returns a PhaseTimer passing everything on to log.
func NewPhaseTimer(log Log) *PhaseTimer { return &PhaseTimer{Log: log, now: time.Now} }

// phaseBeginner is a Log that wants to know when a step begins.
type phaseBeginner interface{ beginPhase(phase string) }

// Event times e's phase when e is a step, and passes e on.
func (t *PhaseTimer) Event(e Event) {
	if e.Kind == Step && e.Phase != "" {
		t.beginPhase(e.Phase)
	}
	t.Log.Event(e)
}

func (t *PhaseTimer) beginPhase(phase string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if n := len(t.phases); n > 0 {
		last := &t.phases[n-1]
		if last.Name == phase {
			return
		}
		if last.Duration == 0 {
			last.Duration = now.Sub(last.Started)
		}
	}
	t.phases = append(t.phases, PhaseTime{Name: phase, Started: now})
}

// Phases returns the phases so far, the last one ended now.
func (t *PhaseTimer) Phases() []PhaseTime {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := len(t.phases); n > 0 && t.phases[n-1].Duration == 0 {
		t.phases[n-1].Duration = t.now().Sub(t.phases[n-1].Started)
	}
	return append([]PhaseTime(nil), t.phases...)
}
