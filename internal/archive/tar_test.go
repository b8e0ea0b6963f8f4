package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/internal/testutil"
)

// h is shorthand for an expected header with the default time.
func h(name string, typ byte, mode int64, o Owner, extra ...string) hdr {
	x := hdr{Name: name, Type: typ, Mode: mode, UID: o.UID, GID: o.GID, ModTime: DefaultModTime}
	switch typ {
	case tar.TypeSymlink:
		x.Linkname = extra[0]
	case tar.TypeReg:
		if len(extra) > 0 {
			x.Content = extra[0]
		}
	}
	return x
}

func TestTarSynthetic(t *testing.T) {
	root := Owner{}
	cnb := Owner{UID: 1000, GID: 1001}
	hostLauncher := filepath.Join(t.TempDir(), "launcher")
	testutil.WriteFile(t, hostLauncher, "ELF launcher", 0o700)

	tests := []struct {
		name    string
		entries []Entry
		want    []hdr
	}{{
		name: "launcher layer from a host file implies root-owned parents",
		entries: []Entry{
			HostFile("/cnb/lifecycle/launcher", hostLauncher, 0o755, root),
		},
		want: []hdr{
			h("cnb/", tar.TypeDir, 0o755, root),
			h("cnb/lifecycle/", tar.TypeDir, 0o755, root),
			h("cnb/lifecycle/launcher", tar.TypeReg, 0o755, root, "ELF launcher"),
		},
	}, {
		name: "config layer: process symlinks and metadata, explicit dir wins over implied",
		entries: []Entry{
			Symlink("cnb/process/web", "/cnb/lifecycle/launcher", root),
			Symlink("cnb/process/worker", "/cnb/lifecycle/launcher", root),
			File("layers/config/metadata.toml", 0o644, cnb, []byte("[[processes]]\n")),
			Dir("layers", 0o755, cnb),
			Dir("cnb/process", 0o750, Owner{UID: 1, GID: 2}),
		},
		want: []hdr{
			h("cnb/", tar.TypeDir, 0o755, root),
			h("cnb/process/", tar.TypeDir, 0o750, Owner{UID: 1, GID: 2}),
			h("cnb/process/web", tar.TypeSymlink, 0o777, root, "/cnb/lifecycle/launcher"),
			h("cnb/process/worker", tar.TypeSymlink, 0o777, root, "/cnb/lifecycle/launcher"),
			h("layers/", tar.TypeDir, 0o755, cnb),
			h("layers/config/", tar.TypeDir, 0o755, cnb),
			h("layers/config/metadata.toml", tar.TypeReg, 0o644, cnb, "[[processes]]\n"),
		},
	}, {
		name: "special bits kept, type bits dropped",
		entries: []Entry{
			File("bin/su", 0o755|fs.ModeSetuid, root, []byte("x")),
			File("bin/wall", 0o755|fs.ModeSetgid|fs.ModeDevice, root, []byte("y")),
			Dir("tmp", 0o777|fs.ModeSticky, root),
		},
		want: []hdr{
			h("bin/", tar.TypeDir, 0o755, root),
			h("bin/su", tar.TypeReg, 0o4755, root, "x"),
			h("bin/wall", tar.TypeReg, 0o2755, root, "y"),
			h("tmp/", tar.TypeDir, 0o1777, root),
		},
	}, {
		name: "sorted by name with directory contents kept together",
		entries: []Entry{
			File("a-b", 0o644, root, nil),
			File("B", 0o644, root, nil),
			File("a/c", 0o644, root, nil),
			File("_x", 0o644, root, nil),
			File("a/b/z", 0o644, root, nil),
			File("a/b.txt", 0o644, root, nil),
		},
		want: []hdr{
			h("B", tar.TypeReg, 0o644, root),
			h("_x", tar.TypeReg, 0o644, root),
			h("a/", tar.TypeDir, 0o755, root),
			h("a/b/", tar.TypeDir, 0o755, root),
			h("a/b/z", tar.TypeReg, 0o644, root),
			h("a/b.txt", tar.TypeReg, 0o644, root),
			h("a/c", tar.TypeReg, 0o644, root),
			h("a-b", tar.TypeReg, 0o644, root),
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTar()
			for _, e := range tc.entries {
				if err := tr.Add(e); err != nil {
					t.Fatalf("Add(%s): %v", e.Name, err)
				}
			}
			var buf bytes.Buffer
			if err := tr.Write(context.Background(), &buf); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if diff := cmp.Diff(tc.want, readTar(t, &buf)); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTarModTime(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
		want time.Time
	}{
		{"default", nil, time.Date(1980, 1, 1, 0, 0, 1, 0, time.UTC)},
		{"SOURCE_DATE_EPOCH, truncated to seconds", []Option{WithModTime(time.Unix(1700000000, 999_000_000))}, time.Unix(1700000000, 0).UTC()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTar(tc.opts...)
			if err := tr.Add(File("d/f", 0o644, Owner{}, []byte("x"))); err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := tr.Write(context.Background(), &buf); err != nil {
				t.Fatal(err)
			}
			for _, e := range readTar(t, &buf) {
				if !e.ModTime.Equal(tc.want) {
					t.Errorf("%s: mtime %v, want %v", e.Name, e.ModTime, tc.want)
				}
			}
		})
	}
}

// hostTree builds a small layer directory with every kind of entry.
func hostTree(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "node")
	testutil.WriteFile(t, filepath.Join(dir, "bin", "node"), "node binary", 0o755)
	testutil.WriteFile(t, filepath.Join(dir, "lib", "npm-cli.js"), "npm", 0o644)
	testutil.WriteFile(t, filepath.Join(dir, "README"), "readme", 0o640)
	testutil.WriteFile(t, filepath.Join(dir, "bin", "suid"), "s", 0o750|fs.ModeSetuid)
	mustSymlink(t, "../lib/npm-cli.js", filepath.Join(dir, "bin", "npm"))
	mustSymlink(t, "/etc/passwd", filepath.Join(dir, "passwd"))
	if err := os.Link(filepath.Join(dir, "README"), filepath.Join(dir, "README.hard")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "empty"), 0o750|fs.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Join(dir, "bin"), filepath.Join(dir, "lib")} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A random host time, to show it is not kept.
	if err := os.Chtimes(filepath.Join(dir, "README"), time.Now(), time.Unix(1234567890, 0)); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestTarAddDir(t *testing.T) {
	dir := hostTree(t)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatalf("listening on %s: %v", sock, err)
	}
	defer l.Close()

	cnb := Owner{UID: 1000, GID: 1001}
	parent := Owner{UID: 7, GID: 8}
	var skipped []string
	tr := NewTar()
	err = tr.AddDir(context.Background(), dir, "/layers/my_bp/node", DirOptions{
		Owner: cnb, ParentMode: 0o750, ParentOwner: parent,
		OnSkip: func(p string, reason error) error {
			if !errors.Is(reason, ErrSpecialFile) {
				t.Errorf("skip reason %v does not wrap ErrSpecialFile", reason)
			}
			skipped = append(skipped, p)
			return nil
		},
	})
	if err != nil {
		t.Fatalf("AddDir: %v", err)
	}
	var buf bytes.Buffer
	if err := tr.Write(context.Background(), &buf); err != nil {
		t.Fatalf("Write: %v", err)
	}
	want := []hdr{
		h("layers/", tar.TypeDir, 0o750, parent),
		h("layers/my_bp/", tar.TypeDir, 0o750, parent),
		h("layers/my_bp/node/", tar.TypeDir, 0o755, cnb),
		h("layers/my_bp/node/README", tar.TypeReg, 0o640, cnb, "readme"),
		h("layers/my_bp/node/README.hard", tar.TypeReg, 0o640, cnb, "readme"),
		h("layers/my_bp/node/bin/", tar.TypeDir, 0o755, cnb),
		h("layers/my_bp/node/bin/node", tar.TypeReg, 0o755, cnb, "node binary"),
		h("layers/my_bp/node/bin/npm", tar.TypeSymlink, 0o777, cnb, "../lib/npm-cli.js"),
		h("layers/my_bp/node/bin/suid", tar.TypeReg, 0o4750, cnb, "s"),
		h("layers/my_bp/node/empty/", tar.TypeDir, 0o2750, cnb),
		h("layers/my_bp/node/lib/", tar.TypeDir, 0o755, cnb),
		h("layers/my_bp/node/lib/npm-cli.js", tar.TypeReg, 0o644, cnb, "npm"),
		h("layers/my_bp/node/passwd", tar.TypeSymlink, 0o777, cnb, "/etc/passwd"),
	}
	if diff := cmp.Diff(want, readTar(t, &buf)); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{fifo, sock}, skipped); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
}

func TestTarAddDirRoots(t *testing.T) {
	dir := t.TempDir()
	testutil.WriteFile(t, filepath.Join(dir, "a", "f"), "f", 0o644)
	if err := os.Chmod(filepath.Join(dir, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "link")
	mustSymlink(t, dir, link)
	tests := []struct {
		name    string
		hostDir string
		prefix  string
		want    []string
	}{
		{"empty prefix: no root entry", dir, "", []string{"a/", "a/f"}},
		{"slash prefix is the root too", dir, "/", []string{"a/", "a/f"}},
		{"symlinked host dir is followed once", link, "w", []string{"w/", "w/a/", "w/a/f"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTar()
			if err := tr.AddDir(context.Background(), tc.hostDir, tc.prefix, DirOptions{}); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, tr.Names()); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
			tr = NewTar()
			if err := tr.AddPaths(context.Background(), tc.hostDir, tc.prefix, []string{"a/f"}, DirOptions{}); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, tr.Names()); diff != "" {
				t.Errorf("AddPaths names (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTarAddPaths(t *testing.T) {
	app := filepath.Join(t.TempDir(), "app")
	testutil.WriteFile(t, filepath.Join(app, "src", "main.go"), "main", 0o644)
	testutil.WriteFile(t, filepath.Join(app, "src", "util", "x.go"), "x", 0o644)
	testutil.WriteFile(t, filepath.Join(app, "src", "util", "y.go"), "y", 0o600)
	testutil.WriteFile(t, filepath.Join(app, "static", "a.css"), "css", 0o644)
	testutil.WriteFile(t, filepath.Join(app, "README"), "readme", 0o644)
	mustSymlink(t, "README", filepath.Join(app, "README.link"))
	for _, d := range []string{app, filepath.Join(app, "static"), filepath.Join(app, "src", "util")} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(app, "src"), 0o750); err != nil {
		t.Fatal(err)
	}
	cnb := Owner{UID: 1000, GID: 1000}

	tests := []struct {
		name  string
		paths []string
		want  []hdr
	}{{
		name:  "a directory brings its subtree, parents come with host modes",
		paths: []string{"src/util", "README.link"},
		want: []hdr{
			h("workspace/", tar.TypeDir, 0o755, cnb),
			h("workspace/README.link", tar.TypeSymlink, 0o777, cnb, "README"),
			h("workspace/src/", tar.TypeDir, 0o750, cnb),
			h("workspace/src/util/", tar.TypeDir, 0o755, cnb),
			h("workspace/src/util/x.go", tar.TypeReg, 0o644, cnb, "x"),
			h("workspace/src/util/y.go", tar.TypeReg, 0o600, cnb, "y"),
		},
	}, {
		name:  "single files, overlapping paths are fine",
		paths: []string{"static/a.css", "./src/main.go", "src/main.go", "static"},
		want: []hdr{
			h("workspace/", tar.TypeDir, 0o755, cnb),
			h("workspace/src/", tar.TypeDir, 0o750, cnb),
			h("workspace/src/main.go", tar.TypeReg, 0o644, cnb, "main"),
			h("workspace/static/", tar.TypeDir, 0o755, cnb),
			h("workspace/static/a.css", tar.TypeReg, 0o644, cnb, "css"),
		},
	}, {
		name:  "no paths: only the prefix directory",
		paths: nil,
		want:  []hdr{h("workspace/", tar.TypeDir, 0o755, cnb)},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTar()
			if err := tr.AddPaths(context.Background(), app, "workspace", tc.paths, DirOptions{Owner: cnb}); err != nil {
				t.Fatalf("AddPaths: %v", err)
			}
			var buf bytes.Buffer
			if err := tr.Write(context.Background(), &buf); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if diff := cmp.Diff(tc.want, readTar(t, &buf)); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTarErrors(t *testing.T) {
	dir := t.TempDir()
	testutil.WriteFile(t, filepath.Join(dir, "real", "f"), "f", 0o644)
	mustSymlink(t, "real", filepath.Join(dir, "lnk"))
	ctx := context.Background()

	tests := []struct {
		name    string
		build   func(tr *Tar) error
		write   bool   // the error comes from Write
		wantIs  error  // nil: any error
		wantMsg string // substring of the error
	}{{
		name:    "dot-dot entry",
		build:   func(tr *Tar) error { return tr.Add(File("a/../../x", 0o644, Owner{}, nil)) },
		wantIs:  ErrUnsafePath,
		wantMsg: "a/../../x",
	}, {
		name:    "unknown kind",
		build:   func(tr *Tar) error { return tr.Add(Entry{Name: "x"}) },
		wantMsg: "unknown kind",
	}, {
		name: "file with two contents",
		build: func(tr *Tar) error {
			return tr.Add(Entry{Name: "x", Kind: KindFile, Data: []byte("a"), HostPath: "/etc/hostname"})
		},
		wantMsg: "both Data and HostPath",
	}, {
		name:    "symlink without target",
		build:   func(tr *Tar) error { return tr.Add(Symlink("x", "", Owner{})) },
		wantMsg: "empty target",
	}, {
		name: "two different entries with one name",
		build: func(tr *Tar) error {
			if err := tr.Add(File("x", 0o644, Owner{}, []byte("1"))); err != nil {
				return err
			}
			return tr.Add(File("x", 0o644, Owner{}, []byte("2")))
		},
		wantMsg: "adding x",
	}, {
		name: "file used as a directory",
		build: func(tr *Tar) error {
			if err := tr.Add(File("a", 0o644, Owner{}, nil)); err != nil {
				return err
			}
			return tr.Add(File("a/b", 0o644, Owner{}, nil))
		},
		write:   true,
		wantMsg: "writing a/b: parent a is not a directory",
	}, {
		name: "missing host file",
		build: func(tr *Tar) error {
			return tr.Add(HostFile("x", filepath.Join(dir, "missing"), 0o644, Owner{}))
		},
		write:   true,
		wantIs:  fs.ErrNotExist,
		wantMsg: "archiving x",
	}, {
		name: "slice through a symlink",
		build: func(tr *Tar) error {
			return tr.AddPaths(ctx, dir, "w", []string{"lnk/f"}, DirOptions{})
		},
		wantMsg: "lnk is not a directory",
	}, {
		name: "slice path missing",
		build: func(tr *Tar) error {
			return tr.AddPaths(ctx, dir, "w", []string{"nope"}, DirOptions{})
		},
		wantIs:  fs.ErrNotExist,
		wantMsg: "adding nope",
	}, {
		name: "slice path escaping",
		build: func(tr *Tar) error {
			return tr.AddPaths(ctx, dir, "w", []string{"../etc"}, DirOptions{})
		},
		wantIs: ErrUnsafePath,
	}, {
		name:    "escaping prefix",
		build:   func(tr *Tar) error { return tr.AddDir(ctx, dir, "../up", DirOptions{}) },
		wantIs:  ErrUnsafePath,
		wantMsg: dir,
	}, {
		name: "AddDir on a file",
		build: func(tr *Tar) error {
			return tr.AddDir(ctx, filepath.Join(dir, "real", "f"), "x", DirOptions{})
		},
		wantMsg: "not a directory",
	}, {
		name: "OnSkip aborts",
		build: func(tr *Tar) error {
			d := t.TempDir()
			if err := syscall.Mkfifo(filepath.Join(d, "p"), 0o644); err != nil {
				return err
			}
			return tr.AddDir(ctx, d, "x", DirOptions{OnSkip: func(string, error) error { return errors.New("no fifos here") }})
		},
		wantMsg: "no fifos here",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTar()
			err := tc.build(tr)
			if tc.write {
				if err != nil {
					t.Fatalf("building: %v", err)
				}
				err = tr.Write(ctx, &bytes.Buffer{})
			}
			if err == nil {
				t.Fatal("no error")
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %v is not %v", err, tc.wantIs)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tc.wantMsg)
			}
		})
	}
}

func TestTarWriteCancelled(t *testing.T) {
	tr := NewTar()
	if err := tr.Add(File("x", 0o644, Owner{}, nil)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tr.Write(ctx, &bytes.Buffer{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Write with a cancelled context: %v, want context.Canceled", err)
	}
}

// Long names and huge ids need PAX records; they must round-trip and stay
// deterministic.
func TestTarExtendedHeaders(t *testing.T) {
	long := strings.Repeat("n", 120) // no "/" to split on: USTAR cannot hold it
	huge := Owner{UID: 3_000_000, GID: 3_000_001}
	write := func() []byte {
		tr := NewTar()
		if err := tr.Add(File("d/"+long, 0o644, huge, []byte("x"))); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := tr.Write(context.Background(), &buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	a, b := write(), write()
	if !bytes.Equal(a, b) {
		t.Fatal("two writes differ")
	}
	want := []hdr{
		h("d/", tar.TypeDir, 0o755, huge),
		h("d/"+long, tar.TypeReg, 0o644, huge, "x"),
	}
	if diff := cmp.Diff(want, readTar(t, bytes.NewReader(a))); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	// Short names and small ids stay plain USTAR: no PAX headers at all.
	tr := NewTar()
	if err := tr.Add(File("d/short", 0o644, Owner{UID: 1000}, nil)); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := tr.Write(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	r := tar.NewReader(&buf)
	for {
		hd, err := r.Next()
		if err != nil {
			break
		}
		if hd.Format != tar.FormatUSTAR {
			t.Errorf("%s written as %v, want USTAR", hd.Name, hd.Format)
		}
	}
}
