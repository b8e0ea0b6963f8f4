package buildpackage

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// ImageSource opens the images that buildpack URIs and builder
// configurations name.
type ImageSource interface {
	Image(ctx context.Context, ref string) (v1.Image, error)
}

// ImageSourceFunc adapts a function to ImageSource.
type ImageSourceFunc func(ctx context.Context, ref string) (v1.Image, error)

// Image calls f.
func (f ImageSourceFunc) Image(ctx context.Context, ref string) (v1.Image, error) { return f(ctx, ref) }

// Resolver turns buildpack URIs, as package.toml and builder.toml write
// them, into buildpacks.
type Resolver struct {
	// Images opens image references; nil makes them an error.
	Images ImageSource
	// Layers control the layers made from directories and archives.
	Layers LayerOptions
}

// Source is what one URI brings.
type Source struct {
	URI string
	// Entry is the buildpack the URI names: a directory's buildpack, or a
	// buildpackage's entrypoint.
	Entry Buildpack
	// Buildpacks are all the buildpacks the URI brings, Entry included.
	Buildpacks []Buildpack
}

// Resolve returns the buildpacks uri names. uri is one of:
//   - a buildpack directory, or a .tar/.tgz of one (buildpack.toml at its
//     root), relative to baseDir unless absolute, optionally as file://PATH;
//   - a .cnb buildpackage file;
//   - docker://REF, or a bare image reference that names no local path:
//     a buildpackage image, opened through r.Images (oci:DIR and
//     docker-archive:FILE are passed to it as they are).
//
// Buildpack registry URNs (urn:cnb:registry:...) and http(s) URLs are not
// supported. Errors about the URI itself are *InputError.
func (r *Resolver) Resolve(ctx context.Context, uri, baseDir string) (*Source, error) {
	switch {
	case strings.TrimSpace(uri) == "":
		return nil, inputErrorf("empty buildpack uri")
	case strings.HasPrefix(uri, "docker://"):
		return r.fromImage(ctx, uri, strings.TrimLeft(strings.TrimPrefix(uri, "docker://"), "/"))
	case strings.HasPrefix(uri, "oci:"), strings.HasPrefix(uri, "docker-archive:"):
		return r.fromImage(ctx, uri, uri)
	case strings.HasPrefix(uri, "file://"):
		p := r.abs(strings.TrimPrefix(uri, "file://"), baseDir)
		if _, err := os.Stat(p); err != nil {
			return nil, inputErrorf("buildpack uri %q: %s does not exist", uri, p)
		}
		return r.fromPath(ctx, uri, p)
	case strings.HasPrefix(uri, "urn:cnb:registry:"):
		return nil, inputErrorf("buildpack uri %q: the buildpack registry is not supported; package the buildpack or name its image", uri)
	case strings.HasPrefix(uri, "http://"), strings.HasPrefix(uri, "https://"):
		return nil, inputErrorf("buildpack uri %q: downloading buildpacks is not supported; download it and name the file", uri)
	}
	p := r.abs(uri, baseDir)
	if _, err := os.Stat(p); err == nil {
		return r.fromPath(ctx, uri, p)
	}
	if looksLikePath(uri, baseDir) || r.Images == nil {
		return nil, inputErrorf("buildpack uri %q: %s does not exist", uri, p)
	}
	src, err := r.fromImage(ctx, uri, uri)
	if err != nil {
		return nil, fmt.Errorf("buildpack uri %q is no file here (%s), and as an image: %w", uri, p, err)
	}
	return src, nil
}

func (r *Resolver) abs(p, baseDir string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(baseDir, p)
}

// looksLikePath reports whether a URI that names nothing on disk was
// meant as a path rather than an image reference.
func looksLikePath(uri, baseDir string) bool {
	if strings.HasPrefix(uri, ".") || strings.HasPrefix(uri, "/") || strings.HasPrefix(uri, "~") {
		return true
	}
	for _, ext := range []string{".cnb", ".tgz", ".tar", ".tar.gz"} {
		if strings.HasSuffix(uri, ext) {
			return true
		}
	}
	if !strings.ContainsAny(uri, "/:@") {
		return true // a bare word: a missing directory, not an image
	}
	first, _, _ := strings.Cut(uri, "/")
	_, err := os.Stat(filepath.Join(baseDir, first))
	return err == nil // its first directory exists here
}

func (r *Resolver) fromImage(ctx context.Context, uri, ref string) (*Source, error) {
	if r.Images == nil {
		return nil, inputErrorf("buildpack uri %q: images cannot be opened here", uri)
	}
	img, err := r.Images.Image(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("buildpack uri %q: %w", uri, err)
	}
	p, err := Read(ctx, img, "image "+ref)
	if err != nil {
		return nil, err
	}
	return &Source{URI: uri, Entry: p.Entry, Buildpacks: p.Buildpacks}, nil
}

func (r *Resolver) fromPath(ctx context.Context, uri, p string) (*Source, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, inputErrorf("buildpack uri %q: %w", uri, err)
	}
	if fi.IsDir() {
		if _, err := os.Stat(filepath.Join(p, descriptor.BuildpackFile)); err != nil {
			return nil, inputErrorf("buildpack uri %q: %s is not a buildpack: it has no %s", uri, p, descriptor.BuildpackFile)
		}
		b, err := FromDir(ctx, p, r.Layers)
		if err != nil {
			return nil, &InputError{Err: fmt.Errorf("buildpack uri %q: %w", uri, err)}
		}
		return &Source{URI: uri, Entry: b, Buildpacks: []Buildpack{b}}, nil
	}
	if !fi.Mode().IsRegular() {
		return nil, inputErrorf("buildpack uri %q: %s is neither a directory nor a file", uri, p)
	}
	if IsCNBFile(p) {
		img, err := OpenFile(p)
		if err != nil {
			return nil, err
		}
		pkg, err := Read(ctx, img, p)
		if err != nil {
			return nil, err
		}
		return &Source{URI: uri, Entry: pkg.Entry, Buildpacks: pkg.Buildpacks}, nil
	}
	b, err := r.fromArchive(ctx, p)
	if err != nil {
		return nil, &InputError{Err: fmt.Errorf("buildpack uri %q: %w", uri, err)}
	}
	return &Source{URI: uri, Entry: b, Buildpacks: []Buildpack{b}}, nil
}

// fromArchive reads a buildpack from a tar or gzipped tar holding its
// directory (buildpack.toml at the root).
func (r *Resolver) fromArchive(ctx context.Context, p string) (Buildpack, error) {
	f, err := os.Open(p)
	if err != nil {
		return Buildpack{}, fmt.Errorf("reading %s: %w", p, err)
	}
	defer f.Close()
	rd, err := tarStream(f)
	if err != nil {
		return Buildpack{}, fmt.Errorf("%s is neither a buildpack directory, a buildpack archive (.tgz) nor a buildpackage (.cnb): %w", p, err)
	}
	tmp, err := os.MkdirTemp(r.Layers.TempDir, "kiln-buildpack-")
	if err != nil {
		return Buildpack{}, fmt.Errorf("unpacking %s: %w", p, err)
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "bp")
	if err := archive.Extract(ctx, rd, dir, archive.ExtractOptions{}); err != nil {
		return Buildpack{}, fmt.Errorf("unpacking %s: %w", p, err)
	}
	if _, err := os.Stat(filepath.Join(dir, descriptor.BuildpackFile)); err != nil {
		return Buildpack{}, fmt.Errorf("%s is not a buildpack archive: no %s at its root", p, descriptor.BuildpackFile)
	}
	b, err := FromDir(ctx, dir, r.Layers)
	if err != nil {
		return Buildpack{}, fmt.Errorf("%s: %w", p, err)
	}
	// the layer holds the content; the unpacked copy goes away
	b.Descriptor.Dir = ""
	b.Source = p
	return b, nil
}

// tarStream returns r as an uncompressed tar stream, checking that it
// starts with a tar header.
func tarStream(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(2)
	var rd io.Reader = br
	if bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		rd = zr
	}
	hb := bufio.NewReaderSize(rd, 1024)
	head, err := hb.Peek(512)
	if err != nil {
		return nil, errors.New("not a tar archive")
	}
	if _, err := tar.NewReader(bytes.NewReader(head)).Next(); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, errors.New("not a tar archive")
	}
	return hb, nil
}
