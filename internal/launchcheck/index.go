package launchcheck

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/internal/progress"
)

// maxIndexEntries bounds the run image's file index (a hostile image with
// millions of entries must not exhaust memory).
const maxIndexEntries = 2_000_000

// maxIndexFile bounds a cached index file read back from disk.
const maxIndexFile = 256 << 20

// entry is one path of the run image.
type entry struct {
	// Type is 'f' (file), 'd' (directory) or 'l' (symbolic link).
	Type byte   `json:"t"`
	Mode uint32 `json:"m,omitempty"`
	Link string `json:"l,omitempty"`
}

// Index maps the run image's paths ("usr/bin/env", no leading slash) to
// what they are, after every layer and whiteout is applied.
type Index map[string]entry

// indexVersion changes when the file format does.
const indexVersion = "1"

// LoadIndex returns the file index of img, from dir/<digest>.json when an
// earlier build wrote it, else read from the image's layers and then kept
// there (dir "" keeps nothing).
func LoadIndex(img v1.Image, dir string) (Index, error) {
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("reading the run image digest: %w", err)
	}
	file := ""
	if dir != "" {
		file = filepath.Join(dir, "run-index-v"+indexVersion+"-"+digest.Hex+".json")
		if ix, err := readIndexFile(file); err == nil {
			now := time.Now()
			_ = os.Chtimes(file, now, now) // its last use, for kiln prune
			return ix, nil
		}
	}
	ix, err := BuildIndex(img)
	if err != nil {
		return nil, err
	}
	if file != "" {
		_ = writeIndexFile(file, ix) // only a cache: a failure costs the next build a re-read
	}
	return ix, nil
}

func readIndexFile(file string) (Index, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ix Index
	if err := json.NewDecoder(io.LimitReader(f, maxIndexFile)).Decode(&ix); err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	return ix, nil
}

func writeIndexFile(file string, ix Index) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".index-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := json.NewEncoder(tmp).Encode(ix); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}

// BuildIndex reads the tar headers of img's layers, in order, applying
// OCI whiteouts. Layers read from a registry show as a pull on a terminal
// (progress.Track).
func BuildIndex(img v1.Image) (Index, error) {
	defer progress.Track(img, nil)()
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("reading the run image layers: %w", err)
	}
	ix := Index{}
	for i, l := range layers {
		if err := ix.addLayer(l); err != nil {
			return nil, fmt.Errorf("reading run image layer %d: %w", i, err)
		}
	}
	return ix, nil
}

func (ix Index) addLayer(l v1.Layer) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	// opaque dirs of this layer hide what lower layers put in them, not
	// what this layer puts there: collect first, apply before adding
	added := map[string]entry{}
	var whiteouts, opaque []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		name := cleanName(h.Name)
		if name == "" {
			continue
		}
		dir, base := path.Split(name)
		dir = strings.TrimSuffix(dir, "/")
		switch {
		case base == ".wh..wh..opq":
			opaque = append(opaque, dir)
			continue
		case strings.HasPrefix(base, ".wh."):
			whiteouts = append(whiteouts, path.Join(dir, strings.TrimPrefix(base, ".wh.")))
			continue
		}
		e, ok := headerEntry(h, added, ix)
		if !ok {
			continue
		}
		added[name] = e
		if len(ix)+len(added) > maxIndexEntries {
			return fmt.Errorf("more than %d files", maxIndexEntries)
		}
	}
	for _, d := range opaque {
		ix.removeUnder(d, false)
	}
	for _, w := range whiteouts {
		ix.removeUnder(w, true)
	}
	for k, v := range added {
		ix[k] = v
	}
	return nil
}

// headerEntry turns a tar header into an entry; hard links take their
// target's entry.
func headerEntry(h *tar.Header, added map[string]entry, ix Index) (entry, bool) {
	mode := uint32(h.Mode & 0o7777)
	switch h.Typeflag {
	case tar.TypeDir:
		return entry{Type: 'd', Mode: mode}, true
	case tar.TypeSymlink:
		return entry{Type: 'l', Link: h.Linkname}, true
	case tar.TypeReg:
		return entry{Type: 'f', Mode: mode}, true
	case tar.TypeLink:
		t := cleanName(h.Linkname)
		if e, ok := added[t]; ok {
			return e, true
		}
		e, ok := ix[t]
		return e, ok
	}
	return entry{}, false
}

// removeUnder deletes p's children, and p itself when self is set.
func (ix Index) removeUnder(p string, self bool) {
	if self {
		delete(ix, p)
	}
	prefix := p + "/"
	if p == "" {
		prefix = ""
	}
	for k := range ix {
		if strings.HasPrefix(k, prefix) && k != p {
			delete(ix, k)
		}
	}
}

// cleanName is a tar entry name as an index key: relative, cleaned, no
// trailing slash; "" for the root or a name escaping it.
func cleanName(n string) string {
	c := path.Clean("/" + n)
	if c == "/" {
		return ""
	}
	return strings.TrimPrefix(c, "/")
}

// mode returns the entry's permission bits as an fs.FileMode.
func (e entry) mode() fs.FileMode { return fs.FileMode(e.Mode) }
