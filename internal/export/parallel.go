package export

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// pending is one layer of the image, planned in image order. Its build
// runs concurrently with the other layers' and must not touch the
// exporter's state; done then runs in image order, on one goroutine.
type pending struct {
	build func(ctx context.Context) (built, error)
	done  func(b built)
}

// built is a layer made (or found again) by a pending build.
type built struct {
	layer  v1.Layer
	diffID v1.Hash
	what   string
	// fp is the directory fingerprint the layer stands for, if any.
	fp string
	// log is the line reported for the layer.
	log string
}

// buildAll runs the builds of jobs, at most workers at once (GOMAXPROCS
// when workers < 1), and returns their results in order. The error is
// that of the first failing layer in image order, whatever order the
// builds end in: a failure cancels only the builds after it, so those
// before it still run to their end and report their own failure. On
// error, the layers already made are closed.
func buildAll(ctx context.Context, jobs []pending, workers int) ([]built, error) {
	n := len(jobs)
	if workers < 1 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, n)
	out, errs := make([]built, n), make([]error, n)
	ctxs, cancels := make([]context.Context, n), make([]context.CancelFunc, n)
	for i := range jobs {
		ctxs[i], cancels[i] = context.WithCancel(ctx)
	}
	defer func() {
		for _, c := range cancels {
			c()
		}
	}()
	var mu sync.Mutex
	firstFailed := n
	failed := func(i int) {
		mu.Lock()
		defer mu.Unlock()
		for j := i + 1; j < firstFailed; j++ {
			cancels[j]()
		}
		firstFailed = min(firstFailed, i)
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := ctxs[i].Err(); err != nil {
					errs[i] = err
					continue
				}
				if out[i], errs[i] = jobs[i].build(ctxs[i]); errs[i] != nil {
					failed(i)
				}
			}
		}()
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()

	err := ctx.Err()
	for i := 0; err == nil && i < n; i++ {
		err = errs[i]
	}
	if err != nil {
		closeAll(out)
		return nil, err
	}
	return out, nil
}

// closeAll removes the files of the layers made by this export.
func closeAll(bs []built) {
	for _, b := range bs {
		if c, ok := b.layer.(interface{ Close() error }); ok {
			c.Close()
		}
	}
}

// buildLayers builds every planned layer and records them, in order.
func (e *exporter) buildLayers(ctx context.Context) error {
	bs, err := buildAll(ctx, e.pending, e.o.Parallelism)
	if err != nil {
		return err
	}
	for i, b := range bs {
		if b.layer == nil {
			closeAll(bs)
			return fmt.Errorf("layer %d made nothing", i)
		}
		e.add = append(e.add, appended{b.layer, b.what})
		if b.fp != "" {
			e.memo[b.fp] = b.diffID.String()
		}
		if b.log != "" {
			fmt.Fprintln(e.o.Log, b.log)
		}
		if d := e.pending[i].done; d != nil {
			d(b)
		}
	}
	return nil
}
