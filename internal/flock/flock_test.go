package flock

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestTryLockBusyAndShared(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "lock")
	ex, err := TryLock(p, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := TryLock(p, true); !errors.Is(err, ErrBusy) {
		t.Fatalf("second exclusive lock: %v, want ErrBusy", err)
	}
	if _, err := TryLock(p, false); !errors.Is(err, ErrBusy) {
		t.Fatalf("shared lock beside an exclusive one: %v, want ErrBusy", err)
	}
	ex.Close()
	a, err := TryLock(p, false)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := TryLock(p, false)
	if err != nil {
		t.Fatalf("two shared locks: %v", err)
	}
	defer b.Close()
	if _, err := TryLock(p, true); !errors.Is(err, ErrBusy) {
		t.Fatalf("exclusive beside shared: %v, want ErrBusy", err)
	}
}

// A waiter on a lock file its holder removes must not believe it holds
// the lock of the path.
func TestLockAfterRemove(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "guarded")
	p := filepath.Join(dir, "lock")
	held, err := Lock(context.Background(), p, true)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *os.File)
	go func() {
		f, err := Lock(context.Background(), p, true)
		if err != nil {
			t.Error(err)
		}
		got <- f
	}()
	time.Sleep(3 * pollInterval)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := Remove(held, p); err != nil {
		t.Fatal(err)
	}
	f := <-got
	defer f.Close()
	same, err := stillNamed(f, p)
	if err != nil || !same {
		t.Fatalf("the waiter holds a lock file that is not %s (%v)", p, err)
	}
	// And it is the only holder.
	if _, err := TryLock(p, true); !errors.Is(err, ErrBusy) {
		t.Fatalf("lock after remove: %v, want ErrBusy", err)
	}
}

func TestLockHonoursContext(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lock")
	held, err := TryLock(p, true)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Millisecond)
	defer cancel()
	if _, err := Lock(ctx, p, false); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock: %v, want the context's error", err)
	}
}

func TestTryLockExisting(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lock")
	if _, err := TryLockExisting(p, true); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("TryLockExisting created the file")
	}
	os.WriteFile(p, nil, 0o644)
	f, err := TryLockExisting(p, true)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := TryLockExisting(p, true); !errors.Is(err, ErrBusy) {
		t.Fatalf("held: %v", err)
	}
}
