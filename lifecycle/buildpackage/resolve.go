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
	// Kind is what the URIs name: buildpacks (the zero value) or image
	// extensions (a directory with extension.toml, or a package of one
	// as pack makes it).
	Kind descriptor.Kind
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
	kind := r.Kind
	switch {
	case strings.TrimSpace(uri) == "":
		return nil, inputErrorf("empty %s uri", kind)
	case strings.HasPrefix(uri, "docker://"):
		return r.fromImage(ctx, uri, strings.TrimLeft(strings.TrimPrefix(uri, "docker://"), "/"))
	case strings.HasPrefix(uri, "oci:"), strings.HasPrefix(uri, "docker-archive:"):
		return r.fromImage(ctx, uri, uri)
	case strings.HasPrefix(uri, "file://"):
		p := r.abs(strings.TrimPrefix(uri, "file://"), baseDir)
		if _, err := os.Stat(p); err != nil {
			return nil, inputErrorf("%s uri %q: %s does not exist", kind, uri, p)
		}
		return r.fromPath(ctx, uri, p)
	case strings.HasPrefix(uri, "urn:cnb:registry:"):
		return nil, inputErrorf("%s uri %q: the buildpack registry is not supported; package the %s or name its image", kind, uri, kind)
	case strings.HasPrefix(uri, "http://"), strings.HasPrefix(uri, "https://"):
		return nil, inputErrorf("%s uri %q: downloading %ss is not supported; download it and name the file", kind, uri, kind)
	}
	p := r.abs(uri, baseDir)
	if _, err := os.Stat(p); err == nil {
		return r.fromPath(ctx, uri, p)
	}
	if looksLikePath(uri, baseDir) || r.Images == nil {
		return nil, inputErrorf("%s uri %q: %s does not exist", kind, uri, p)
	}
	src, err := r.fromImage(ctx, uri, uri)
	if err != nil {
		return nil, fmt.Errorf("%s uri %q is no file here (%s), and as an image: %w", kind, uri, p, err)
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
		return nil, inputErrorf("%s uri %q: images cannot be opened here", r.Kind, uri)
	}
	img, err := r.Images.Image(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("%s uri %q: %w", r.Kind, uri, err)
	}
	p, err := ReadKind(ctx, r.Kind, img, "image "+ref)
	if err != nil {
		return nil, err
	}
	return &Source{URI: uri, Entry: p.Entry, Buildpacks: p.Buildpacks}, nil
}

func (r *Resolver) fromPath(ctx context.Context, uri, p string) (*Source, error) {
	kind := r.Kind
	fi, err := os.Stat(p)
	if err != nil {
		return nil, inputErrorf("%s uri %q: %w", kind, uri, err)
	}
	if fi.IsDir() {
		if _, err := os.Stat(filepath.Join(p, kind.File())); err != nil {
			return nil, inputErrorf("%s uri %q: %s is not a%s %s: it has no %s", kind, uri, p, article(kind), kind, kind.File())
		}
		b, err := FromModuleDir(ctx, kind, p, r.Layers)
		if err != nil {
			return nil, &InputError{Err: fmt.Errorf("%s uri %q: %w", kind, uri, err)}
		}
		return &Source{URI: uri, Entry: b, Buildpacks: []Buildpack{b}}, nil
	}
	if !fi.Mode().IsRegular() {
		return nil, inputErrorf("%s uri %q: %s is neither a directory nor a file", kind, uri, p)
	}
	if IsCNBFile(p) {
		img, err := OpenFile(p)
		if err != nil {
			return nil, err
		}
		pkg, err := ReadKind(ctx, kind, img, p)
		if err != nil {
			return nil, err
		}
		return &Source{URI: uri, Entry: pkg.Entry, Buildpacks: pkg.Buildpacks}, nil
	}
	b, err := r.fromArchive(ctx, p)
	if err != nil {
		return nil, &InputError{Err: fmt.Errorf("%s uri %q: %w", kind, uri, err)}
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
	if _, err := os.Stat(filepath.Join(dir, r.Kind.File())); err != nil {
		return Buildpack{}, fmt.Errorf("%s is not a%s %s archive: no %s at its root", p, article(r.Kind), r.Kind, r.Kind.File())
	}
	b, err := FromModuleDir(ctx, r.Kind, dir, r.Layers)
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

// article is "n" before "extension", for "an extension".
func article(k descriptor.Kind) string {
	if k == descriptor.KindExtension {
		return "n"
	}
	return ""
}
