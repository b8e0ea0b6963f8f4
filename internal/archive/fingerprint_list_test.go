package archive

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/internal/testutil"
)

// listTree is hostTree plus names whose order tells walk order from a
// plain byte sort ("a b" < "a/" < "a-b" < "a.txt"), a fifo and a socket.
func listTree(t *testing.T) string {
	t.Helper()
	dir := hostTree(t)
	testutil.WriteFile(t, filepath.Join(dir, "a", "c"), "c", 0o644)
	testutil.WriteFile(t, filepath.Join(dir, "a", "d", "e"), "e", 0o600)
	testutil.WriteFile(t, filepath.Join(dir, "a b"), "space", 0o644)
	testutil.WriteFile(t, filepath.Join(dir, "a-b"), "dash", 0o644)
	testutil.WriteFile(t, filepath.Join(dir, "a.txt"), "dot", 0o644)
	if err := os.Chmod(filepath.Join(dir, "a"), 0o711); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	l, err := net.Listen("unix", filepath.Join(dir, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return dir
}

func list(t *testing.T, dir string) *Listing {
	t.Helper()
	l, err := List(context.Background(), dir)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return l
}

func tarBytes(t *testing.T, tr *Tar) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := tr.Write(context.Background(), &buf); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.Bytes()
}

// subtrees are the indices of paths and what is beneath them.
func subtrees(t *testing.T, l *Listing, paths ...string) []int {
	t.Helper()
	var out []int
	for _, p := range paths {
		i, ok := l.Index(p)
		if !ok {
			t.Fatalf("Index(%q) found nothing", p)
		}
		for j := i; j < l.Subtree(i); j++ {
			out = append(out, j)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestListOrderAndIndex(t *testing.T) {
	dir := listTree(t)
	l := list(t, dir)
	var rels []string
	for _, e := range l.Entries {
		rels = append(rels, e.Rel)
	}
	if rels[0] != "." {
		t.Fatalf("first entry %q, want the root", rels[0])
	}
	if !slices.IsSortedFunc(rels[1:], compareNames) {
		t.Errorf("walk order is not the tar's order: %q", rels)
	}
	for i, r := range rels {
		if j, ok := l.Index(r); !ok || j != i {
			t.Errorf("Index(%q) = %d, %v; want %d", r, j, ok, i)
		}
	}
	if _, ok := l.Index("nope"); ok {
		t.Error("Index found a missing path")
	}
	i, _ := l.Index("a")
	var sub []string
	for j := i; j < l.Subtree(i); j++ {
		sub = append(sub, rels[j])
	}
	if d := cmp.Diff([]string{"a", "a/c", "a/d", "a/d/e"}, sub); d != "" {
		t.Errorf("subtree of a (-want +got):\n%s", d)
	}
	if l.Subtree(0) != len(rels) {
		t.Error("the root's subtree is not everything")
	}
	p, _ := l.Index("passwd")
	if e := l.Entries[p]; e.Mode&fs.ModeSymlink == 0 || e.Target != "/etc/passwd" {
		t.Errorf("symlink listed as %+v", e)
	}
}

func TestListFollowsNoLink(t *testing.T) {
	outside := t.TempDir()
	testutil.WriteFile(t, filepath.Join(outside, "secret"), "s", 0o600)
	dir := t.TempDir()
	mustSymlink(t, outside, filepath.Join(dir, "escape"))
	l := list(t, dir)
	if len(l.Entries) != 2 || l.Entries[1].Rel != "escape" {
		t.Errorf("listing went through a link: %+v", l.Entries)
	}
	// A symlinked root is followed once, as AddDir does.
	link := filepath.Join(t.TempDir(), "link")
	mustSymlink(t, dir, link)
	if got := list(t, link); got.Root() != l.Root() || len(got.Entries) != 2 {
		t.Errorf("symlinked root: %s %+v", got.Root(), got.Entries)
	}
	if _, err := List(context.Background(), filepath.Join(dir, "missing")); err == nil {
		t.Error("listed a missing dir")
	}
	if _, err := List(context.Background(), filepath.Join(outside, "secret")); err == nil {
		t.Error("listed a file")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := List(ctx, dir); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled List: %v", err)
	}
}

// The tar of a listing is byte for byte the tar AddDir and AddPaths make
// of the same tree.
func TestAddListedMatchesAddDir(t *testing.T) {
	ctx := context.Background()
	dir := listTree(t)
	l := list(t, dir)
	cnb, parent := Owner{UID: 1000, GID: 1001}, Owner{UID: 7, GID: 8}
	o := DirOptions{Owner: cnb, ParentMode: 0o750, ParentOwner: parent}
	for _, prefix := range []string{"", "workspace", "/layers/my_bp/node"} {
		want := NewTar(WithModTime(time.Unix(1e9, 0)))
		if err := want.AddDir(ctx, dir, prefix, o); err != nil {
			t.Fatal(err)
		}
		got := NewTar(WithModTime(time.Unix(1e9, 0)))
		if err := got.AddListed(ctx, l, l.All(), prefix, o); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(tarBytes(t, want), tarBytes(t, got)) {
			t.Errorf("prefix %q: AddListed and AddDir differ:\n%s", prefix,
				cmp.Diff(readTar(t, bytes.NewReader(tarBytes(t, want))), readTar(t, bytes.NewReader(tarBytes(t, got)))))
		}
	}
	for _, paths := range [][]string{{"a/d", "bin/npm"}, {"a"}, {"a b", "a.txt", "empty"}, {}} {
		want := NewTar()
		if err := want.AddPaths(ctx, dir, "workspace", paths, o); err != nil {
			t.Fatal(err)
		}
		got := NewTar()
		idx := append([]int{0}, subtrees(t, l, paths...)...)
		if err := got.AddListed(ctx, l, slices.Compact(idx), "workspace", o); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(tarBytes(t, want), tarBytes(t, got)) {
			t.Errorf("paths %q: AddListed and AddPaths differ:\n%s", paths,
				cmp.Diff(readTar(t, bytes.NewReader(tarBytes(t, want))), readTar(t, bytes.NewReader(tarBytes(t, got)))))
		}
	}
	// Without its directories listed, an entry still brings them.
	i, _ := l.Index("a/d/e")
	got := NewTar()
	if err := got.AddListed(ctx, l, []int{i}, "w", o); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"w/", "w/a/", "w/a/d/", "w/a/d/e"}, got.Names()); d != "" {
		t.Errorf("names (-want +got):\n%s", d)
	}
	var skipped []string
	o.OnSkip = func(p string, err error) error {
		if !errors.Is(err, ErrSpecialFile) {
			t.Errorf("skip reason %v", err)
		}
		skipped = append(skipped, filepath.Base(p))
		return nil
	}
	if err := NewTar().AddListed(ctx, l, l.All(), "w", o); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"fifo", "sock"}, skipped); d != "" {
		t.Errorf("skipped (-want +got):\n%s", d)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := NewTar().AddListed(cctx, l, l.All(), "w", o); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled AddListed: %v", err)
	}
}

func TestListingFingerprint(t *testing.T) {
	dir := t.TempDir()
	testutil.WriteFile(t, filepath.Join(dir, "a", "f"), "one", 0o644)
	testutil.WriteFile(t, filepath.Join(dir, "b", "g"), "two", 0o644)
	testutil.WriteFile(t, filepath.Join(dir, "h"), "three", 0o644)
	fp := func(salt string, paths ...string) string {
		t.Helper()
		l := list(t, dir)
		return l.Fingerprint(subtrees(t, l, paths...), salt)
	}
	all := fp("x", ".")
	if fp("x", ".") != all {
		t.Error("fingerprint not stable")
	}
	if fp("y", ".") == all {
		t.Error("salt ignored")
	}
	if a, b := fp("x", "a"), fp("x", "b"); a == b || a == all {
		t.Error("subsets not told apart")
	}
	set := func(p string, f func(string) error) func() {
		return func() {
			if err := f(filepath.Join(dir, p)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name    string
		change  func()
		changed []string // of the subsets a, b, h
	}{
		{"size", set("a/f", func(p string) error { return os.WriteFile(p, []byte("longer"), 0o644) }), []string{"a"}},
		{"mtime", set("b/g", func(p string) error { return os.Chtimes(p, time.Unix(1, 0), time.Unix(1, 0)) }), []string{"b"}},
		{"mode", set("h", func(p string) error { return os.Chmod(p, 0o600) }), []string{"h"}},
		{"owner", set("h", func(p string) error { return os.Lchown(p, 4321, 4321) }), []string{"h"}},
		{"new file", set("a/n", func(p string) error { return os.WriteFile(p, nil, 0o644) }), []string{"a"}},
		{"link", set("b/l", func(p string) error { return os.Symlink("g", p) }), []string{"b"}},
		{"link target", set("b/l", func(p string) error {
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Symlink("gg", p)
		}), []string{"b"}},
		{"dir mtime alone", set("a", func(p string) error { return os.Chtimes(p, time.Unix(5, 0), time.Unix(5, 0)) }), nil},
		{"mode of a dir above", set("", func(p string) error { return os.Chmod(p, 0o750) }), []string{"a", "b", "h"}},
	} {
		if tc.name == "owner" && os.Geteuid() != 0 {
			continue
		}
		before := map[string]string{}
		for _, s := range []string{"a", "b", "h"} {
			before[s] = fp("x", s)
		}
		tc.change()
		var changed []string
		for _, s := range []string{"a", "b", "h"} {
			if fp("x", s) != before[s] {
				changed = append(changed, s)
			}
		}
		if d := cmp.Diff(tc.changed, changed); d != "" {
			t.Errorf("%s: changed fingerprints (-want +got):\n%s", tc.name, d)
		}
	}
}

// TreeFingerprint of a listing is Fingerprint of the tree it listed.
func TestTreeFingerprintMatchesFingerprint(t *testing.T) {
	dir := listTree(t)
	l, err := List(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Fingerprint(dir, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := l.TreeFingerprint(); got != want {
		t.Errorf("TreeFingerprint = %s, Fingerprint = %s", got, want)
	}
	testutil.WriteFile(t, filepath.Join(dir, "a", "c"), "changed", 0o644)
	if got := l.TreeFingerprint(); got != want {
		t.Error("TreeFingerprint read the tree again")
	}
}
