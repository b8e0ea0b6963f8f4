package service

import "sync"

// wakeup lets the followers of a build's log in this process wake when
// the worker in this process writes to it or ends it, rather than at
// their next poll (which stays: a build on another machine wakes no one
// here).
type wakeup struct {
	mu sync.Mutex
	ch map[int64]chan struct{}
}

// wait returns a channel closed at the next notify of build id. Take it
// before reading the build, so a change in between is not missed.
func (w *wakeup) wait(id int64) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch == nil {
		w.ch = map[int64]chan struct{}{}
	}
	c, ok := w.ch[id]
	if !ok {
		c = make(chan struct{})
		w.ch[id] = c
	}
	return c
}

// notify wakes everyone waiting on build id.
func (w *wakeup) notify(id int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c, ok := w.ch[id]; ok {
		close(c)
		delete(w.ch, id)
	}
}

// Changed returns a channel closed when build id's log grows or the
// build ends in this process (a follower still polls for other
// processes' builds).
func (s *Service) Changed(id int64) <-chan struct{} { return s.wake.wait(id) }

// Ended says a follower of build id stops (it saw the end, or its client
// left): the build's channel is dropped, so one whose follower left while
// another process ran it does not stay behind. Whoever still waits on it
// wakes, reads the build again and waits anew.
func (s *Service) Ended(id int64) { s.wake.notify(id) }
