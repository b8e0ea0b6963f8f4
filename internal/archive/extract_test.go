package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/kiln-build/kiln/internal/testutil"
)

var oldTime = time.Unix(1_000_000_000, 0).UTC() // mkTar's entry time

// Writing a tree with Tar and extracting it gives the tree back, with the
// archive's owner and time on every entry.
func TestExtractRoundTrip(t *testing.T) {
	src := hostTree(t)
	owner := testOwner()
	when := time.Unix(1_700_000_000, 0).UTC()
	tr := NewTar(WithModTime(when))
	if err := tr.AddDir(context.Background(), src, "", DirOptions{Owner: owner}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := tr.Write(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "dest")
	if err := Extract(context.Background(), &buf, dest, ExtractOptions{PreserveOwner: true}); err != nil {
		t.Fatalf("Extract: %v", err)
	}
	want := snapshot(t, src, false)
	got := snapshot(t, dest, true)
	delete(want, ".") // the archive has no entry for its root
	delete(got, ".")
	for name, n := range got {
		if n.UID != owner.UID || n.GID != owner.GID || !n.ModTime.Equal(when) {
			t.Errorf("%s: owner %d:%d time %v, want %d:%d %v", name, n.UID, n.GID, n.ModTime, owner.UID, owner.GID, when)
		}
		n.UID, n.GID, n.ModTime = 0, 0, time.Time{}
		got[name] = n
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("extracted tree (-want +got):\n%s", diff)
	}
	if st1, err := os.Stat(filepath.Join(dest, "README")); err == nil {
		st2, _ := os.Stat(filepath.Join(dest, "README.hard"))
		if os.SameFile(st1, st2) {
			t.Error("host hardlinks came back linked; Tar should store plain files")
		}
	}
}

func TestExtractEntries(t *testing.T) {
	tests := []struct {
		name    string
		before  func(t *testing.T, dest, outside string) // dest exists, empty
		entries []tarEntry
		want    map[string]node
	}{{
		name: "hardlinks share an inode; replacing one does not write through",
		entries: []tarEntry{
			{name: "a", typ: tar.TypeReg, body: "old"},
			{name: "b", typ: tar.TypeLink, linkname: "a"},
			{name: "c", typ: tar.TypeLink, linkname: "./b"},
			{name: "a", typ: tar.TypeReg, body: "new"},
		},
		want: map[string]node{
			"a": {Mode: 0o644, Content: "new"},
			"b": {Mode: 0o644, Content: "old"},
			"c": {Mode: 0o644, Content: "old"},
		},
	}, {
		name: "a read-only directory can still be filled; modes land at the end",
		entries: []tarEntry{
			{name: "./", typ: tar.TypeDir, mode: 0o750},
			{name: "ro/", typ: tar.TypeDir, mode: 0o555},
			{name: "ro/f", typ: tar.TypeReg, mode: 0o400, body: "f"},
			{name: "ro/sub/g", typ: tar.TypeReg, mode: 0o4755, body: "g"},
			{name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
		},
		want: map[string]node{
			".":        {Mode: fs.ModeDir | 0o750},
			"ro":       {Mode: fs.ModeDir | 0o555},
			"ro/f":     {Mode: 0o400, Content: "f"},
			"ro/sub":   {Mode: fs.ModeDir | 0o755},
			"ro/sub/g": {Mode: 0o755 | fs.ModeSetuid, Content: "g"},
			"tmp":      {Mode: fs.ModeDir | 0o777 | fs.ModeSticky},
		},
	}, {
		name: "existing entries are replaced, directories merged",
		before: func(t *testing.T, dest, outside string) {
			testutil.WriteFile(t, filepath.Join(dest, "dir-to-file", "x"), "x", 0o644)
			testutil.WriteFile(t, filepath.Join(dest, "file-to-dir"), "x", 0o644)
			testutil.WriteFile(t, filepath.Join(dest, "merge", "old"), "old", 0o644)
			mustSymlink(t, filepath.Join(outside, "secret"), filepath.Join(dest, "link-to-file"))
		},
		entries: []tarEntry{
			{name: "dir-to-file", typ: tar.TypeReg, body: "now a file"},
			{name: "file-to-dir/", typ: tar.TypeDir, mode: 0o700},
			{name: "merge/", typ: tar.TypeDir},
			{name: "merge/new", typ: tar.TypeReg, body: "new"},
			{name: "link-to-file", typ: tar.TypeReg, body: "not through the link"},
		},
		want: map[string]node{
			".":            {Mode: fs.ModeDir | 0o755},
			"dir-to-file":  {Mode: 0o644, Content: "now a file"},
			"file-to-dir":  {Mode: fs.ModeDir | 0o700},
			"link-to-file": {Mode: 0o644, Content: "not through the link"},
			"merge":        {Mode: fs.ModeDir | 0o755},
			"merge/new":    {Mode: 0o644, Content: "new"},
			"merge/old":    {Mode: 0o644, Content: "old"},
		},
	}, {
		name: "symlinks are kept verbatim, even pointing outside, and writes through inside ones work",
		entries: []tarEntry{
			{name: "abs", typ: tar.TypeSymlink, linkname: "/etc/passwd"},
			{name: "up", typ: tar.TypeSymlink, linkname: "../../x"},
			{name: "real/", typ: tar.TypeDir},
			{name: "in", typ: tar.TypeSymlink, linkname: "real"},
			{name: "in/f", typ: tar.TypeReg, body: "via link"},
		},
		want: map[string]node{
			"abs":    {Mode: fs.ModeSymlink | 0o777, Target: "/etc/passwd"},
			"up":     {Mode: fs.ModeSymlink | 0o777, Target: "../../x"},
			"in":     {Mode: fs.ModeSymlink | 0o777, Target: "real"},
			"real":   {Mode: fs.ModeDir | 0o755},
			"real/f": {Mode: 0o644, Content: "via link"},
		},
	}, {
		name: "whiteouts are plain files unless asked for",
		entries: []tarEntry{
			{name: "a", typ: tar.TypeReg, body: "a"},
			{name: ".wh.a", typ: tar.TypeReg},
		},
		want: map[string]node{
			"a":     {Mode: 0o644, Content: "a"},
			".wh.a": {Mode: 0o644},
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			dest, outside := filepath.Join(base, "dest"), filepath.Join(base, "outside")
			testutil.WriteFile(t, filepath.Join(outside, "secret"), "secret", 0o644)
			if err := os.Mkdir(dest, 0o755); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { removable(dest) })
			if tc.before != nil {
				tc.before(t, dest, outside)
			}
			data := mkTar(t, tc.entries...)
			if err := Extract(context.Background(), bytes.NewReader(data), dest, ExtractOptions{}); err != nil {
				t.Fatalf("Extract: %v", err)
			}
			got := snapshot(t, dest, false)
			if _, ok := tc.want["."]; !ok {
				delete(got, ".")
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("tree (-want +got):\n%s", diff)
			}
			if b, _ := os.ReadFile(filepath.Join(outside, "secret")); string(b) != "secret" {
				t.Errorf("outside file changed to %q", b)
			}
			// Every entry's time comes from its header.
			for name, n := range snapshot(t, dest, true) {
				if name != "." && !n.ModTime.Equal(oldTime) && tc.before == nil {
					if _, implied := map[string]bool{"ro/sub": true}[name]; !implied {
						t.Errorf("%s: mtime %v, want %v", name, n.ModTime, oldTime)
					}
				}
			}
		})
	}
}

// Every escape attempt fails with an error naming the entry and leaves the
// outside untouched.
func TestExtractRefusesEscapes(t *testing.T) {
	tests := []struct {
		name      string
		entries   func(outside string) []tarEntry
		whiteouts bool
		badEntry  string // must appear in the error
		wantIs    error
	}{{
		name:     "dot-dot name",
		entries:  func(string) []tarEntry { return []tarEntry{{name: "../outside/new", typ: tar.TypeReg, body: "x"}} },
		badEntry: "../outside/new",
		wantIs:   ErrUnsafePath,
	}, {
		name: "dot-dot in the middle",
		entries: func(string) []tarEntry {
			return []tarEntry{{name: "a/../../outside/secret", typ: tar.TypeReg, body: "x"}}
		},
		badEntry: "a/../../outside/secret",
		wantIs:   ErrUnsafePath,
	}, {
		name:     "absolute name",
		entries:  func(o string) []tarEntry { return []tarEntry{{name: o + "/secret", typ: tar.TypeReg, body: "x"}} },
		badEntry: "/secret",
		wantIs:   ErrUnsafePath,
	}, {
		name: "write through a relative symlink",
		entries: func(string) []tarEntry {
			return []tarEntry{
				{name: "ln", typ: tar.TypeSymlink, linkname: "../outside"},
				{name: "ln/secret", typ: tar.TypeReg, body: "x"},
			}
		},
		badEntry: "ln/secret",
	}, {
		name: "write through an absolute symlink",
		entries: func(o string) []tarEntry {
			return []tarEntry{
				{name: "ln", typ: tar.TypeSymlink, linkname: o},
				{name: "ln/new", typ: tar.TypeReg, body: "x"},
			}
		},
		badEntry: "ln/new",
	}, {
		name: "directory through a symlink chain",
		entries: func(string) []tarEntry {
			return []tarEntry{
				{name: "a", typ: tar.TypeSymlink, linkname: "b"},
				{name: "b", typ: tar.TypeSymlink, linkname: "c/../.."},
				{name: "c/", typ: tar.TypeDir},
				{name: "a/outside/sub/", typ: tar.TypeDir},
			}
		},
		badEntry: "a/outside/sub/",
	}, {
		name: "symlink through a symlink",
		entries: func(string) []tarEntry {
			return []tarEntry{
				{name: "ln", typ: tar.TypeSymlink, linkname: "/"},
				{name: "ln/tmp/evil", typ: tar.TypeSymlink, linkname: "x"},
			}
		},
		badEntry: "ln/tmp/evil",
	}, {
		name: "hardlink to an outside name",
		entries: func(string) []tarEntry {
			return []tarEntry{{name: "h", typ: tar.TypeLink, linkname: "../outside/secret"}}
		},
		badEntry: `"h"`,
		wantIs:   ErrUnsafePath,
	}, {
		name: "hardlink to an absolute name",
		entries: func(o string) []tarEntry {
			return []tarEntry{{name: "h", typ: tar.TypeLink, linkname: o + "/secret"}}
		},
		badEntry: `"h"`,
		wantIs:   ErrUnsafePath,
	}, {
		name: "hardlink through a symlink",
		entries: func(string) []tarEntry {
			return []tarEntry{
				{name: "ln", typ: tar.TypeSymlink, linkname: "../outside"},
				{name: "h", typ: tar.TypeLink, linkname: "ln/secret"},
			}
		},
		badEntry: `"h"`,
	}, {
		name: "whiteout through a symlink",
		entries: func(string) []tarEntry {
			return []tarEntry{
				{name: "ln", typ: tar.TypeSymlink, linkname: "../outside"},
				{name: "ln/.wh.secret", typ: tar.TypeReg},
			}
		},
		whiteouts: true,
		badEntry:  "ln/.wh.secret",
	}, {
		name:      "whiteout of dot-dot",
		entries:   func(string) []tarEntry { return []tarEntry{{name: "d/.wh..", typ: tar.TypeReg}} },
		whiteouts: true,
		badEntry:  "d/.wh..",
		wantIs:    ErrUnsafePath,
	}, {
		name:     "root replaced by a file",
		entries:  func(string) []tarEntry { return []tarEntry{{name: "./", typ: tar.TypeSymlink, linkname: "/"}} },
		badEntry: `"./"`,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			dest, outside := filepath.Join(base, "dest"), filepath.Join(base, "outside")
			testutil.WriteFile(t, filepath.Join(outside, "secret"), "secret", 0o644)
			before := snapshot(t, outside, true)
			data := mkTar(t, tc.entries(outside)...)
			err := Extract(context.Background(), bytes.NewReader(data), dest, ExtractOptions{Whiteouts: tc.whiteouts})
			if err == nil {
				t.Fatal("Extract succeeded")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tc.badEntry) {
				t.Errorf("error %q does not name entry %s", err, tc.badEntry)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %v is not %v", err, tc.wantIs)
			}
			if diff := cmp.Diff(before, snapshot(t, outside, true)); diff != "" {
				t.Errorf("outside changed (-before +after):\n%s", diff)
			}
			if ents, _ := os.ReadDir(base); len(ents) != 2 {
				t.Errorf("something appeared beside dest: %v", ents)
			}
		})
	}
}

// Harmless cases near the escapes: they succeed and leave the outside alone.
func TestExtractNearEscapes(t *testing.T) {
	base := t.TempDir()
	dest, outside := filepath.Join(base, "dest"), filepath.Join(base, "outside")
	testutil.WriteFile(t, filepath.Join(outside, "secret"), "secret", 0o644)
	before := snapshot(t, outside, true)
	data := mkTar(t,
		tarEntry{name: "s", typ: tar.TypeSymlink, linkname: "../outside/secret"},
		tarEntry{name: "h", typ: tar.TypeLink, linkname: "s"}, // links the symlink itself
		tarEntry{name: "h", typ: tar.TypeReg, body: "replaced"},
		tarEntry{name: "s", typ: tar.TypeReg, body: "replaced too"},
		tarEntry{name: "o", typ: tar.TypeSymlink, linkname: "../outside"},
		tarEntry{name: "o/.wh..wh..opq", typ: tar.TypeReg}, // not a directory here: nothing to clear
	)
	if err := Extract(context.Background(), bytes.NewReader(data), dest, ExtractOptions{Whiteouts: true}); err != nil {
		t.Fatalf("Extract: %v", err)
	}
	if diff := cmp.Diff(before, snapshot(t, outside, true)); diff != "" {
		t.Errorf("outside changed (-before +after):\n%s", diff)
	}
	want := map[string]node{
		"h": {Mode: 0o644, Content: "replaced"},
		"s": {Mode: 0o644, Content: "replaced too"},
		"o": {Mode: fs.ModeSymlink | 0o777, Target: "../outside"},
	}
	got := snapshot(t, dest, false)
	delete(got, ".")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}
}

func TestExtractSkipsDevices(t *testing.T) {
	data := mkTar(t,
		tarEntry{name: "dev/", typ: tar.TypeDir},
		tarEntry{name: "dev/null", typ: tar.TypeChar, mode: 0o666},
		tarEntry{name: "dev/sda", typ: tar.TypeBlock, mode: 0o660},
		tarEntry{name: "run/initctl", typ: tar.TypeFifo, mode: 0o600},
		tarEntry{name: "etc/hostname", typ: tar.TypeReg, body: "kiln"},
	)
	var skipped []string
	dest := t.TempDir()
	err := Extract(context.Background(), bytes.NewReader(data), dest, ExtractOptions{
		OnSkip: func(name string, reason error) error {
			if !errors.Is(reason, ErrSpecialFile) {
				t.Errorf("%s: reason %v does not wrap ErrSpecialFile", name, reason)
			}
			skipped = append(skipped, name)
			return nil
		},
	})
	if err != nil {
		t.Fatalf("Extract: %v", err)
	}
	if diff := cmp.Diff([]string{"dev/null", "dev/sda", "run/initctl"}, skipped); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
	got := snapshot(t, dest, false)
	delete(got, ".")
	want := map[string]node{
		"dev":          {Mode: fs.ModeDir | 0o755},
		"etc":          {Mode: fs.ModeDir | 0o755},
		"etc/hostname": {Mode: 0o644, Content: "kiln"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}

	// OnSkip can turn a skip into a failure.
	err = Extract(context.Background(), bytes.NewReader(data), t.TempDir(), ExtractOptions{
		OnSkip: func(string, error) error { return errors.New("devices not allowed") },
	})
	if err == nil || !strings.Contains(err.Error(), "dev/null") {
		t.Errorf("Extract with a failing OnSkip: %v, want an error naming dev/null", err)
	}
}

func TestExtractOwnership(t *testing.T) {
	o := testOwner()
	data := mkTar(t,
		tarEntry{name: "d/", typ: tar.TypeDir, uid: o.UID, gid: o.GID},
		tarEntry{name: "d/f", typ: tar.TypeReg, mode: 0o2755, body: "x", uid: o.UID, gid: o.GID},
		tarEntry{name: "d/l", typ: tar.TypeSymlink, linkname: "f", uid: o.UID, gid: o.GID},
	)
	dest := t.TempDir()
	if err := Extract(context.Background(), bytes.NewReader(data), dest, ExtractOptions{PreserveOwner: true}); err != nil {
		t.Fatalf("Extract: %v", err)
	}
	for name, n := range snapshot(t, dest, true) {
		if name == "." {
			continue
		}
		if n.UID != o.UID || n.GID != o.GID {
			t.Errorf("%s owned by %d:%d, want %d:%d", name, n.UID, n.GID, o.UID, o.GID)
		}
	}
	if fi, err := os.Stat(filepath.Join(dest, "d", "f")); err != nil || fi.Mode() != 0o755|fs.ModeSetgid {
		t.Errorf("d/f mode after chown: %v, %v; want setgid kept", fi.Mode(), err)
	}
}

func TestExtractCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	data := mkTar(t, tarEntry{name: "a", typ: tar.TypeReg, body: "a"})
	if err := Extract(ctx, bytes.NewReader(data), t.TempDir(), ExtractOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Extract: %v, want context.Canceled", err)
	}
}

func TestExtractCorruptTar(t *testing.T) {
	data := mkTar(t, tarEntry{name: "a", typ: tar.TypeReg, body: strings.Repeat("a", 2000)})
	err := Extract(context.Background(), bytes.NewReader(data[:1100]), t.TempDir(), ExtractOptions{})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Extract of a truncated tar: %v, want unexpected EOF", err)
	}
}

// layerOf writes entries to a tar file and wraps it as a layer.
func layerOf(t *testing.T, entries ...tarEntry) v1.Layer {
	t.Helper()
	data := mkTar(t, entries...)
	p := filepath.Join(t.TempDir(), "layer.tar")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := LayerFromTar(p, sha(data))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestExtractImageWhiteouts(t *testing.T) {
	base := layerOf(t,
		tarEntry{name: "etc/", typ: tar.TypeDir},
		tarEntry{name: "etc/a", typ: tar.TypeReg, body: "a1"},
		tarEntry{name: "etc/b", typ: tar.TypeReg, body: "b1"},
		tarEntry{name: "opt/keep/x", typ: tar.TypeReg, body: "x"},
		tarEntry{name: "opt/gone", typ: tar.TypeReg, body: "y"},
		tarEntry{name: "rmdir/z/deep", typ: tar.TypeReg, body: "z"},
		tarEntry{name: "d/n/old", typ: tar.TypeReg, body: "old"},
		tarEntry{name: "var/f", typ: tar.TypeReg, body: "f1"},
	)
	second := layerOf(t,
		tarEntry{name: "etc/.wh.a", typ: tar.TypeReg},
		tarEntry{name: ".wh.rmdir", typ: tar.TypeReg},
		tarEntry{name: "opt/before", typ: tar.TypeReg, body: "same layer, before the marker"},
		tarEntry{name: "opt/.wh..wh..opq", typ: tar.TypeReg},
		tarEntry{name: "opt/later", typ: tar.TypeReg, body: "same layer, after the marker"},
		tarEntry{name: "d/n/new", typ: tar.TypeReg, body: "new"},
		tarEntry{name: "d/.wh..wh..opq", typ: tar.TypeReg},
		tarEntry{name: "var/f", typ: tar.TypeReg, body: "f2"},
		tarEntry{name: "var/g", typ: tar.TypeReg, body: "g"},
		tarEntry{name: "var/.wh.g", typ: tar.TypeReg}, // same layer: g stays
		tarEntry{name: "var/.wh.never-there", typ: tar.TypeReg},
		tarEntry{name: "var/.wh..wh.plnk", typ: tar.TypeReg}, // AUFS metadata: ignored
		tarEntry{name: "dev/console", typ: tar.TypeChar},
	)
	third := layerOf(t,
		tarEntry{name: "etc/a", typ: tar.TypeReg, body: "a3"},
		tarEntry{name: "etc/.wh.b", typ: tar.TypeReg},
	)
	img, err := mutate.AppendLayers(empty.Image, base, second, third)
	if err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	if err := ExtractImage(context.Background(), img, dest, ExtractOptions{}); err != nil {
		t.Fatalf("ExtractImage: %v", err)
	}
	got := snapshot(t, dest, false)
	delete(got, ".")
	dir := node{Mode: fs.ModeDir | 0o755}
	want := map[string]node{
		"d":          dir,
		"d/n":        dir,
		"d/n/new":    {Mode: 0o644, Content: "new"},
		"etc":        dir,
		"etc/a":      {Mode: 0o644, Content: "a3"},
		"opt":        dir,
		"opt/before": {Mode: 0o644, Content: "same layer, before the marker"},
		"opt/later":  {Mode: 0o644, Content: "same layer, after the marker"},
		"var":        dir,
		"var/f":      {Mode: 0o644, Content: "f2"},
		"var/g":      {Mode: 0o644, Content: "g"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}
}

func TestExtractImageNamesLayer(t *testing.T) {
	bad := layerOf(t, tarEntry{name: "../x", typ: tar.TypeReg})
	img, err := mutate.AppendLayers(empty.Image, layerOf(t, tarEntry{name: "ok", typ: tar.TypeReg}), bad)
	if err != nil {
		t.Fatal(err)
	}
	err = ExtractImage(context.Background(), img, t.TempDir(), ExtractOptions{})
	d, _ := bad.DiffID()
	if err == nil || !strings.Contains(err.Error(), "layer 1 ("+d.String()+")") || !errors.Is(err, ErrUnsafePath) {
		t.Errorf("ExtractImage: %v, want an unsafe-path error naming layer 1", err)
	}
}

func FuzzExtract(f *testing.F) {
	f.Add(mkTar(f, tarEntry{name: "a/b", typ: tar.TypeReg, body: "x"}, tarEntry{name: "a/l", typ: tar.TypeLink, linkname: "a/b"}))
	f.Add(mkTar(f, tarEntry{name: "ln", typ: tar.TypeSymlink, linkname: "../outside"}, tarEntry{name: "ln/secret", typ: tar.TypeReg, body: "x"}))
	f.Add(mkTar(f, tarEntry{name: "ln", typ: tar.TypeSymlink, linkname: "/"}, tarEntry{name: "ln/.wh.x", typ: tar.TypeReg}))
	f.Add(mkTar(f, tarEntry{name: "h", typ: tar.TypeLink, linkname: "../outside/secret"}))
	f.Add(mkTar(f, tarEntry{name: "d/", typ: tar.TypeDir, mode: 0o555}, tarEntry{name: "d/.wh..wh..opq", typ: tar.TypeReg}, tarEntry{name: "d/f", typ: tar.TypeReg}))
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Keep each run small: skip streams declaring big files.
		tr := tar.NewReader(bytes.NewReader(data))
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			if h.Size > 1<<20 {
				return
			}
		}
		base := t.TempDir()
		dest, outside := filepath.Join(base, "dest"), filepath.Join(base, "outside")
		testutil.WriteFile(t, filepath.Join(outside, "secret"), "secret", 0o644)
		_ = Extract(context.Background(), bytes.NewReader(data), dest, ExtractOptions{Whiteouts: len(data)%2 == 0})
		ents, err := os.ReadDir(base)
		if err != nil || len(ents) != 2 {
			t.Fatalf("beside dest: %v, %v", ents, err)
		}
		outs, _ := os.ReadDir(outside)
		b, err := os.ReadFile(filepath.Join(outside, "secret"))
		if len(outs) != 1 || err != nil || string(b) != "secret" {
			t.Fatalf("outside changed: %v, %q, %v", outs, b, err)
		}
		removable(dest)
	})
}

// ExtractLayers applies later layers over earlier ones.
func TestExtractLayers(t *testing.T) {
	ctx := context.Background()
	mk := func(files map[string]string) *Layer {
		dir := t.TempDir()
		for name, data := range files {
			testutil.WriteFile(t, filepath.Join(dir, name), data, 0o644)
		}
		tr := NewTar()
		if err := tr.AddDir(ctx, dir, "", DirOptions{}); err != nil {
			t.Fatal(err)
		}
		l, err := NewLayer(ctx, tr, WithTempDir(t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	base := mk(map[string]string{"d/a": "a1", "d/b": "b1"})
	delta := mk(map[string]string{"d/b": "b2", "d/c": "c2"})
	dest := t.TempDir()
	if err := ExtractLayers(ctx, []v1.Layer{base, delta}, dest, ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"d/a": "a1", "d/b": "b2", "d/c": "c2"} {
		if b, err := os.ReadFile(filepath.Join(dest, name)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", name, b, err, want)
		}
	}
}
