package create

import (
	"bytes"
	"sync"
)

// stepSplitter passes a container's output to a Log, except for one line,
// the marker the phase driver prints between two phases in one container
// ("===> BUILDING"), which becomes the step event it stands for. A
// buildpack printing the same line only adds that step to the log, as it
// could print anything else.
type stepSplitter struct {
	mu      sync.Mutex
	log     Log
	marker  []byte // the whole line, with its "\n"
	step    Event
	pending []byte // the start of a line that may still be the marker
	atStart bool   // the next byte starts a line
}

func newStepSplitter(log Log, step Event) *stepSplitter {
	return &stepSplitter{log: log, marker: []byte("===> " + step.Message + "\n"), step: step, atStart: true}
}

// Write never fails on the marker's account: what is not the marker is
// written through, now or when the line shows it is not the marker.
func (s *stepSplitter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		if !s.atStart && s.pending == nil {
			// Mid-line: everything up to and including the next newline
			// goes through.
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				return n, s.write(p)
			}
			if err := s.write(p[:i+1]); err != nil {
				return n, err
			}
			p, s.atStart = p[i+1:], true
			continue
		}
		// At a line start, or inside a candidate: match against the marker.
		want := s.marker[len(s.pending):]
		k := 0
		for k < len(p) && k < len(want) && p[k] == want[k] {
			k++
		}
		switch {
		case k == len(want): // the whole marker
			s.pending, s.atStart = nil, true
			s.log.Event(s.step)
			p = p[k:]
		case k == len(p): // all of p matches so far: wait for more
			s.pending = append(s.pending, p...)
			s.atStart = false
			return n, nil
		default: // not the marker
			out := append(s.pending, p[:k]...)
			s.pending, s.atStart = nil, false
			if err := s.write(out); err != nil {
				return n, err
			}
			p = p[k:]
		}
	}
	return n, nil
}

// Flush writes a candidate line the output ended in.
func (s *stepSplitter) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) > 0 {
		_ = s.write(s.pending)
		s.pending = nil
	}
}

func (s *stepSplitter) write(p []byte) error {
	_, err := s.log.Write(p)
	return err
}
