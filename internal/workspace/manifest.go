package workspace

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Manifest records, per slash-separated path of a workspace ("." is its
// root), the source entry it was copied from and the workspace entry as
// the sync left it.
type Manifest struct {
	entries map[string]entry
}

type entry struct {
	src srcFP
	ws  wsFP
}

// NewManifest is an empty manifest: with it, a sync keeps nothing.
func NewManifest() *Manifest { return &Manifest{entries: map[string]entry{}} }

// Len is the number of paths recorded.
func (m *Manifest) Len() int { return len(m.entries) }

func (m *Manifest) get(rel string) (entry, bool) {
	if m == nil {
		return entry{}, false
	}
	e, ok := m.entries[rel]
	return e, ok
}

func (m *Manifest) put(rel string, src srcFP, ws wsFP) { m.entries[rel] = entry{src: src, ws: ws} }

// maxCtime is the latest workspace ctime recorded but the root's, which
// no sync trusts.
func (m *Manifest) maxCtime() int64 {
	var latest int64
	for rel, e := range m.entries {
		if rel != "." {
			latest = max(latest, e.ws.Ctime)
		}
	}
	return latest
}

const manifestMagic = "kiln-workspace-manifest/1\n"

// ErrBadManifest reports a manifest that is truncated, corrupt or of
// another format version.
var ErrBadManifest = errors.New("bad workspace manifest")

// MarshalBinary encodes the manifest, sorted by path, with a trailing
// SHA-256 of the rest.
func (m *Manifest) MarshalBinary() ([]byte, error) {
	names := make([]string, 0, len(m.entries))
	for n := range m.entries {
		names = append(names, n)
	}
	sort.Strings(names)
	b := make([]byte, 0, 64+len(names)*96)
	b = append(b, manifestMagic...)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, n := range names {
		e := m.entries[n]
		b = binary.AppendUvarint(b, uint64(len(n)))
		b = append(b, n...)
		for _, v := range []uint64{uint64(e.src.Mode), uint64(e.src.Size), uint64(e.src.Mtime), uint64(e.src.Ctime), e.src.Ino, e.src.Dev,
			uint64(e.ws.Mode), uint64(e.ws.UID), uint64(e.ws.GID), uint64(e.ws.Size), uint64(e.ws.Mtime), uint64(e.ws.Ctime), e.ws.Ino, e.ws.Nlink} {
			b = binary.AppendUvarint(b, v)
		}
	}
	sum := sha256.Sum256(b)
	return append(b, sum[:]...), nil
}

// UnmarshalBinary decodes what MarshalBinary wrote, checking its sum and
// that every path is clean and relative.
func (m *Manifest) UnmarshalBinary(data []byte) error {
	if len(data) < len(manifestMagic)+sha256.Size || !bytes.HasPrefix(data, []byte(manifestMagic)) {
		return fmt.Errorf("%w: no header", ErrBadManifest)
	}
	body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return fmt.Errorf("%w: checksum mismatch", ErrBadManifest)
	}
	d := decoder{b: body[len(manifestMagic):]}
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		return fmt.Errorf("%w: %d entries in %d bytes", ErrBadManifest, n, len(d.b))
	}
	entries := make(map[string]entry, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		name := d.bytes(d.uvarint())
		var v [14]uint64
		for j := range v {
			v[j] = d.uvarint()
		}
		if d.err != nil {
			break
		}
		if !cleanRel(name) {
			return fmt.Errorf("%w: path %q", ErrBadManifest, name)
		}
		entries[name] = entry{
			src: srcFP{Mode: uint32(v[0]), Size: int64(v[1]), Mtime: int64(v[2]), Ctime: int64(v[3]), Ino: v[4], Dev: v[5]},
			ws: wsFP{Mode: uint32(v[6]), UID: uint32(v[7]), GID: uint32(v[8]), Size: int64(v[9]),
				Mtime: int64(v[10]), Ctime: int64(v[11]), Ino: v[12], Nlink: v[13]},
		}
	}
	if d.err != nil || len(d.b) != 0 {
		return fmt.Errorf("%w: truncated or trailing data", ErrBadManifest)
	}
	m.entries = entries
	return nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = ErrBadManifest
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(n uint64) string {
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = ErrBadManifest
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// cleanRel says whether name is "." or a clean relative slash path that
// stays below its root.
func cleanRel(name string) bool {
	if name == "." {
		return true
	}
	return name != "" && !strings.ContainsRune(name, 0) && path.Clean(name) == name &&
		!path.IsAbs(name) && name != ".." && !strings.HasPrefix(name, "../")
}

// readManifest reads the manifest file p, which must be a regular file.
func readManifest(p string) (*Manifest, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w: not a regular file", p, ErrBadManifest)
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	m := NewManifest()
	if err := m.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return m, nil
}

// writeManifest writes m as the file p (through a temporary file renamed
// into place). Before it does, it waits until the file system's clock,
// as the new file's ctime shows, has passed every workspace ctime m
// records: any later change to a recorded entry then gets a later ctime,
// even one made within the same clock tick as the sync's last write. p
// must be on the workspace's file system.
func writeManifest(p string, m *Manifest) error {
	b, err := m.MarshalBinary()
	if err != nil {
		return err
	}
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("writing workspace manifest: %w", err)
	}
	err = writeAfter(f, b, m.maxCtime())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing workspace manifest %s: %w", filepath.Base(p), err)
	}
	return nil
}

// writeAfter writes b to f once f's ctime is later than after.
func writeAfter(f *os.File, b []byte, after int64) error {
	if _, err := f.Write(b); err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil {
			return err
		}
		if st.Ctim.Nano() > after {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("the file system clock does not move past the workspace's times")
		}
		time.Sleep(time.Millisecond)
		if err := f.Chmod(0o600); err != nil { // a new ctime
			return err
		}
	}
}
