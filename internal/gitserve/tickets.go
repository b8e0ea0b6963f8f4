package gitserve

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"sync"
)

// tickets are what a push's hook shows the internal endpoint: one per
// receive-pack request, good for one build of that request's app.
// Only hashes are kept, so looking one up leaks nothing through timing.
type tickets struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]*ticket
}

type ticket struct {
	app  string
	used bool
}

func newTickets() *tickets { return &tickets{m: map[[sha256.Size]byte]*ticket{}} }

// issue makes a ticket for a push to app.
func (ts *tickets) issue(app string) string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	t := hex.EncodeToString(b[:])
	ts.mu.Lock()
	ts.m[sha256.Sum256([]byte(t))] = &ticket{app: app}
	ts.mu.Unlock()
	return t
}

// revoke ends a ticket (its push's request is over).
func (ts *tickets) revoke(t string) {
	ts.mu.Lock()
	delete(ts.m, sha256.Sum256([]byte(t)))
	ts.mu.Unlock()
}

// claim uses a ticket up: it returns its app the first time only.
func (ts *tickets) claim(t string) (app string, ok bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	tk := ts.m[sha256.Sum256([]byte(t))]
	if tk == nil || tk.used {
		return "", false
	}
	tk.used = true
	return tk.app, true
}
