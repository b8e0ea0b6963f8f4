package runner

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/extract"
)

func TestCheckTreeListing(t *testing.T) {
	rec := func(size, path string) string {
		return "100644 blob 0123456789abcdef0123456789abcdef01234567 " + size + "\t" + path + "\x00"
	}
	sub := "160000 commit 0123456789abcdef0123456789abcdef01234567       -\tsub\x00"
	for _, tc := range []struct {
		name    string
		listing string
		l       cloneLimits
		tooBig  bool
	}{
		{"within", rec("10", "a") + rec("20", "b") + sub, cloneLimits{bytes: 30, entries: 3}, false},
		{"bytes", rec("10", "a") + rec("21", "b"), cloneLimits{bytes: 30, entries: 3}, true},
		{"entries", rec("1", "a") + rec("1", "b") + sub, cloneLimits{bytes: 30, entries: 2}, true},
		{"name with a tab", rec("5", "a\tb") + rec("5", "c"), cloneLimits{bytes: 9, entries: 5}, true},
		{"empty", "", cloneLimits{bytes: 1, entries: 1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkTreeListing(bufio.NewReader(strings.NewReader(tc.listing)), tc.l)
			if got := errors.Is(err, extract.ErrTooLarge); got != tc.tooBig {
				t.Errorf("err = %v, want too large: %v", err, tc.tooBig)
			}
		})
	}
}

func TestWatchGitDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, ".git", "objects"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, stop := watchGitDir(context.Background(), dir, 1000, 5*time.Millisecond)
	defer stop()
	if err := os.WriteFile(filepath.Join(dir, ".git", "objects", "small"), make([]byte, 900), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if ctx.Err() != nil {
		t.Fatalf("canceled at 900 of 1000 bytes: %v", context.Cause(ctx))
	}
	if err := os.WriteFile(filepath.Join(dir, ".git", "objects", "more"), make([]byte, 200), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("not canceled past the limit")
	}
	if c := context.Cause(ctx); !errors.Is(c, extract.ErrTooLarge) {
		t.Errorf("cause %v, want ErrTooLarge", c)
	}
}

// A repository whose tree is over the limits is refused after the fetch
// and before any of its files is checked out.
func TestCloneBounded(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("git is not installed (make deps installs it): %v", err)
	}
	repo := t.TempDir()
	git := func(args ...string) {
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@t"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	git("init", "-q", "-b", "main")
	big := make([]byte, 64<<10)
	rand.Read(big)
	for _, f := range []string{"a", "b", "c"} {
		if err := os.WriteFile(filepath.Join(repo, f), big, 0o644); err != nil {
			t.Fatal(err)
		}
		big[0]++
	}
	git("add", ".")
	git("commit", "-q", "-m", "one")
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		o    CloneOptions
		ok   bool
	}{
		{"within", CloneOptions{MaxBytes: 1 << 20, MaxEntries: 3}, true},
		{"bytes", CloneOptions{MaxBytes: 150 << 10, MaxEntries: 10}, false},
		{"entries", CloneOptions{MaxBytes: 1 << 20, MaxEntries: 2}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.URL, o.Ref = "file://"+repo, "main"
			dir := filepath.Join(t.TempDir(), "src")
			var log strings.Builder
			_, err := Clone(ctx, o, dir, &log)
			if tc.ok {
				if err != nil {
					t.Fatalf("Clone: %v\n%s", err, log.String())
				}
				return
			}
			if !errors.Is(err, extract.ErrTooLarge) {
				t.Fatalf("Clone = %v, want ErrTooLarge\n%s", err, log.String())
			}
			for _, f := range []string{"a", "b", "c"} {
				if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
					t.Errorf("%s was checked out", f)
				}
			}
		})
	}
}
