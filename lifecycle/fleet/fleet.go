package fleet

import (
	"context"
	"fmt"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kiln-build/kiln/lifecycle/imageio"
)

// DefaultConcurrency is how many images are read and rebased at once.
const DefaultConcurrency = 8

// Resigner signs an image again after it was rebased: the old signature
// names the old digest. It is called with the old (from) and the new (to)
// digest of each image Rebase moved; for a multi-platform app both name
// image indexes, and the index and each of its images are to be signed.
type Resigner interface {
	Resign(ctx context.Context, from, to name.Digest) error
}

// Fleet reads and rebases many registry images through one imageio.IO.
// Its run image cache lives as long as the Fleet: make one per run so
// that "newest" means newest now.
type Fleet struct {
	iio         *imageio.IO
	concurrency int
	resigner    Resigner

	mu   sync.Mutex
	runs map[string]*runEntry
	conn *conn
}

type runEntry struct {
	once sync.Once
	r    *resolved
}

// Option configures a Fleet.
type Option func(*Fleet)

// WithConcurrency sets how many images are handled at once (default
// DefaultConcurrency; values below 1 mean 1).
func WithConcurrency(n int) Option {
	return func(f *Fleet) { f.concurrency = max(1, n) }
}

// WithResigner sets what signs each rebased image (default: nothing).
func WithResigner(r Resigner) Option { return func(f *Fleet) { f.resigner = r } }

// New returns a Fleet that reaches registries through iio.
func New(iio *imageio.IO, opts ...Option) *Fleet {
	f := &Fleet{iio: iio, concurrency: DefaultConcurrency, runs: map[string]*runEntry{}}
	for _, o := range opts {
		o(f)
	}
	return f
}

// Status describes every image of refs, in order, reading them
// concurrently. runImage, when not empty, is the run image every app is
// compared with instead of its recorded one.
func (f *Fleet) Status(ctx context.Context, refs []string, runImage string) []*Image {
	out := make([]*Image, len(refs))
	c, err := f.connect()
	if err != nil {
		for i, r := range refs {
			out[i] = &Image{Ref: r, Error: err.Error()}
		}
		return out
	}
	f.each(ctx, len(refs), func(i int) { out[i] = f.inspect(ctx, c, refs[i], runImage) })
	for i, im := range out {
		if im == nil {
			out[i] = &Image{Ref: refs[i], Error: fmt.Sprintf("not read: %v", ctx.Err())}
		}
	}
	return out
}

// conn is one run's registry access: a Puller and a Pusher keep their
// connections and tokens per repository across images.
type conn struct {
	pull *remote.Puller
	push *remote.Pusher
}

// connect returns the Fleet's registry access, made on first use (its
// requests take the context of each call).
func (f *Fleet) connect() (*conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conn != nil {
		return f.conn, nil
	}
	// Each request takes its call's context; the options' is a default.
	opts := append(f.iio.RemoteOptions(context.Background()), remote.WithPageSize(defaultPageSize))
	pull, err := remote.NewPuller(opts...)
	if err != nil {
		return nil, err
	}
	push, err := remote.NewPusher(opts...)
	if err != nil {
		return nil, err
	}
	f.conn = &conn{pull: pull, push: push}
	return f.conn, nil
}

// List is the package's List through the Fleet's registry access, so
// that listing and reading the images share connections and tokens.
func (f *Fleet) List(ctx context.Context, p Prefix, lim Limits) ([]string, error) {
	c, err := f.connect()
	if err != nil {
		return nil, err
	}
	return list(ctx, c.pull, p, lim.withDefaults())
}

// each calls fn for 0..n-1, at most f.concurrency at once; once ctx is
// done the calls not yet started are skipped (their results stay nil
// unless fn was called).
func (f *Fleet) each(ctx context.Context, n int, fn func(int)) {
	sem := make(chan struct{}, f.concurrency)
	var wg sync.WaitGroup
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}()
	}
	wg.Wait()
}
