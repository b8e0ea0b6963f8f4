package runner

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/extract"
)

// cloneLimits bound what a clone may write: its .git while fetching, and
// the tree it checks out (counted from the fetched commit before
// checkout, so no file of an oversized tree is written).
type cloneLimits struct {
	bytes   int64
	entries int
}

func (o CloneOptions) limits() cloneLimits {
	l := cloneLimits{bytes: o.MaxBytes, entries: o.MaxEntries}
	if l.bytes <= 0 {
		l.bytes = MaxSourceBytes
	}
	if l.entries <= 0 {
		l.entries = MaxSourceEntries
	}
	return l
}

// watchGitDir cancels ctx (with a cause wrapping extract.ErrTooLarge) as
// soon as dir/.git holds more than limit bytes, checking every interval,
// until the returned stop is called.
func watchGitDir(ctx context.Context, dir string, limit int64, every time.Duration) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if n := diskUsage(filepath.Join(dir, ".git")); n > limit {
				cancel(fmt.Errorf("the fetched repository is over %d bytes: %w", limit, extract.ErrTooLarge))
				return
			}
		}
	}()
	return ctx, func() { close(done); cancel(nil) }
}

// diskUsage sums the sizes of the regular files below dir (links are not
// followed); what cannot be read counts nothing.
func diskUsage(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// checkTreeSize counts the files of commit rev in the repository at dir
// and their sizes, from git's object database, and refuses a tree over l
// before anything of it is checked out.
func checkTreeSize(ctx context.Context, dir, rev string, env []string, l cloneLimits) error {
	cmd := exec.CommandContext(ctx, "git", "-C", dir, "ls-tree", "-r", "-l", "--full-tree", "-z", rev)
	cmd.Env = env
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("git ls-tree: %w", err)
	}
	tooLarge := checkTreeListing(bufio.NewReader(out), l)
	if tooLarge != nil {
		cmd.Process.Kill()
	}
	werr := cmd.Wait()
	if tooLarge != nil {
		return tooLarge
	}
	if werr != nil {
		return fmt.Errorf("git ls-tree: %w", werr)
	}
	return nil
}

// checkTreeListing reads git ls-tree -r -l -z records ("MODE TYPE OBJECT
// SIZE\tPATH\0") and returns an error wrapping extract.ErrTooLarge once
// they pass l.
func checkTreeListing(r *bufio.Reader, l cloneLimits) error {
	var n int
	var size int64
	for {
		rec, err := r.ReadString(0)
		if rec == "" && err != nil {
			return nil
		}
		meta, _, _ := strings.Cut(rec, "\t")
		f := strings.Fields(meta)
		if len(f) != 4 {
			continue
		}
		if n++; n > l.entries {
			return fmt.Errorf("the commit's tree has more than %d files: %w", l.entries, extract.ErrTooLarge)
		}
		if s, err := strconv.ParseInt(f[3], 10, 64); err == nil && s > 0 { // "-" for a submodule
			if size += s; size > l.bytes {
				return fmt.Errorf("the commit's tree is over %d bytes: %w", l.bytes, extract.ErrTooLarge)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			return fmt.Errorf("git ls-tree: a record is too long")
		}
	}
}
