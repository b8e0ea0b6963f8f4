package sbom

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Bounds on what is read from an image's SBOM layers.
const (
	// MaxDocument is the largest SBOM file read.
	MaxDocument = 64 << 20
	// MaxTotal bounds the SBOM bytes read from one image.
	MaxTotal = 256 << 20
	// MaxEntries bounds the tar entries of one SBOM layer.
	MaxEntries = 10_000
)

// reader reads the SBOM layers of one image, keeping count of the bytes.
type reader struct {
	img   v1.Image
	total int64
}

// file is one SBOM file read from a layer.
type file struct {
	name string // the tar entry's cleaned path
	data []byte
}

// accept decides about one tar entry of an SBOM layer (its cleaned path):
// keep it (a file to read), skip it (a directory on the way), or an
// error saying why it may not be there.
type accept func(p string, dir bool) (keep bool, err error)

// readLayer returns the files of the layer with diffID sha that ok keeps,
// reading at most MaxDocument bytes each and MaxTotal in all.
func (r *reader) readLayer(ctx context.Context, what, sha string, ok accept) ([]file, error) {
	h, err := v1.NewHash(sha)
	if err != nil {
		return nil, fmt.Errorf("%s: diffID %q: %w", what, sha, err)
	}
	l, err := r.img.LayerByDiffID(h)
	if err != nil {
		return nil, fmt.Errorf("%s %s is not in the image: %w", what, sha, err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", what, sha, err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var out []file
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s %s: %w", what, sha, err)
		}
		if n >= MaxEntries {
			return nil, fmt.Errorf("%s %s has more than %d entries", what, sha, MaxEntries)
		}
		f, err := r.entry(tr, hdr, ok)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", what, sha, err)
		}
		if f != nil {
			out = append(out, *f)
		}
	}
}

// entry checks one tar entry and reads it when ok keeps it.
func (r *reader) entry(tr *tar.Reader, hdr *tar.Header, ok accept) (*file, error) {
	p, err := cleanPath(hdr.Name)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(path.Base(p), ".wh.") {
		return nil, nil // whiteouts hide lower layers' files; nothing to read
	}
	var dir bool
	switch hdr.Typeflag {
	case tar.TypeDir:
		dir = true
	case tar.TypeReg:
	default:
		return nil, fmt.Errorf("entry %s is not a regular file or directory (tar type %q)", p, hdr.Typeflag)
	}
	keep, err := ok(p, dir)
	if err != nil || !keep || dir {
		return nil, err
	}
	if hdr.Size > MaxDocument {
		return nil, fmt.Errorf("SBOM file %s is %d bytes, more than %d MiB", p, hdr.Size, MaxDocument>>20)
	}
	if r.total+hdr.Size > MaxTotal {
		return nil, fmt.Errorf("SBOM file %s: the image's SBOM files exceed %d MiB in all", p, MaxTotal>>20)
	}
	data, err := io.ReadAll(io.LimitReader(tr, MaxDocument+1))
	if err != nil {
		return nil, fmt.Errorf("reading SBOM file %s: %w", p, err)
	}
	if len(data) > MaxDocument {
		return nil, fmt.Errorf("SBOM file %s is more than %d MiB", p, MaxDocument>>20)
	}
	r.total += int64(len(data))
	return &file{name: p, data: data}, nil
}

// cleanPath returns a tar entry's path without a leading / or ./, and
// refuses one with a ".." element.
func cleanPath(name string) (string, error) {
	if strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("entry %q has a NUL byte in its name", name)
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == ".." {
			return "", fmt.Errorf("entry %q leaves the layer's root", name)
		}
	}
	return strings.TrimPrefix(path.Clean("/"+name), "/"), nil
}
