package archive

import (
	"archive/tar"
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hdr is the part of a tar header the tests compare.
type hdr struct {
	Name     string
	Type     byte
	Mode     int64
	UID, GID int
	Uname    string
	Gname    string
	ModTime  time.Time
	Linkname string
	Content  string
}

func readTar(t *testing.T, r io.Reader) []hdr {
	t.Helper()
	var out []hdr
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("reading tar: %v", err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("reading %s: %v", h.Name, err)
		}
		if !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() || hasXattrs(h) {
			t.Errorf("%s: unexpected atime/ctime/xattrs in header %+v", h.Name, h)
		}
		out = append(out, hdr{
			Name: h.Name, Type: h.Typeflag, Mode: h.Mode, UID: h.Uid, GID: h.Gid,
			Uname: h.Uname, Gname: h.Gname, ModTime: h.ModTime.UTC(),
			Linkname: h.Linkname, Content: string(b),
		})
	}
}

// tarEntry describes one entry of a hand-made tar stream.
type tarEntry struct {
	name     string
	typ      byte
	mode     int64
	body     string
	linkname string
	uid, gid int
}

func mkTar(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		mode := e.mode
		if mode == 0 {
			mode = 0o644
			if e.typ == tar.TypeDir {
				mode = 0o755
			}
		}
		h := &tar.Header{
			Name: e.name, Typeflag: e.typ, Mode: mode, Linkname: e.linkname,
			Uid: e.uid, Gid: e.gid, Size: int64(len(e.body)),
			ModTime: time.Unix(1_000_000_000, 0),
		}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("writing header %s: %v", e.name, err)
		}
		if h.Size > 0 {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// node describes one path of a host tree, as the tests compare it.
type node struct {
	Mode     fs.FileMode
	Content  string
	Target   string
	UID, GID int
	ModTime  time.Time
}

// snapshot lists every path beneath dir. withMeta adds owners and times.
func snapshot(t *testing.T, dir string, withMeta bool) map[string]node {
	t.Helper()
	out := map[string]node{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n := node{Mode: fi.Mode()}
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			n.Content = string(b)
		case fi.Mode()&fs.ModeSymlink != 0:
			n.Target, err = os.Readlink(p)
			if err != nil {
				return err
			}
		}
		if withMeta {
			st := fi.Sys().(*syscall.Stat_t)
			n.UID, n.GID = int(st.Uid), int(st.Gid)
			n.ModTime = fi.ModTime().UTC()
		}
		out[filepath.ToSlash(rel)] = n
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", dir, err)
	}
	return out
}

func mustSymlink(t testing.TB, target, p string) {
	t.Helper()
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

// testOwner returns an owner the test may chown to: a foreign one as root,
// the caller's own otherwise (which chown also accepts).
func testOwner() Owner {
	if os.Geteuid() == 0 {
		return Owner{UID: 4242, GID: 4343}
	}
	return Owner{UID: os.Getuid(), GID: os.Getgid()}
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// removable makes every directory beneath dir writable again, so that a
// test run without root can clean up read-only trees it extracted.
func removable(dir string) {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o755)
		}
		return nil
	})
}

// hasXattrs reports whether h carries extended attributes (as PAX records,
// where the reader finds them).
func hasXattrs(h *tar.Header) bool {
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "SCHILY.xattr.") {
			return true
		}
	}
	return false
}
