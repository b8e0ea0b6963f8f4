package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// interruptSignals are the signals that stop kiln: ^C and a polite kill.
var interruptSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}

// errInterrupted is the cause of a context cancelled by a signal.
var errInterrupted = errors.New("interrupted")

// onInterrupt returns a context that the first SIGINT or SIGTERM cancels,
// so that what runs under it stops and cleans up (containers killed and
// deleted, work dir removed, locks released); a second signal calls force,
// which is to exit at once. stop ends the handling, cancels the context and
// reports whether a signal had cancelled it.
func onInterrupt(parent context.Context, force func()) (ctx context.Context, stop func() (interrupted bool)) {
	ctx, cancel := context.WithCancelCause(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, interruptSignals...)
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case <-sigs:
			cancel(errInterrupted)
		case <-done:
			return
		}
		select {
		case <-sigs:
			force()
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() bool {
		once.Do(func() {
			signal.Stop(sigs)
			close(done)
			<-finished
		})
		interrupted := context.Cause(ctx) == errInterrupted
		cancel(nil)
		return interrupted
	}
}
