package stack

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/stacks/debian"
)

// dpkgInfo is where dpkg keeps each package's file list,
// <name>[:<arch>].list.
const dpkgInfo = "var/lib/dpkg/info/"

// docDir holds copyright files that stay when a recipe removes a
// package's programs; they do not make a package present.
const docDir = "usr/share/doc/"

// presentPackages returns the packages of pkgs whose files are still in
// img. A recipe's remove list may take away every file of a package (the
// run image drops the shell and dpkg that only installation needed); such
// a package is not in the image, so it is left out of the SBOM and the
// package label. A package is kept when any file dpkg lists for it, other
// than documentation and directories, is in the image, and when it lists no
// such file at all (a metapackage) or has no file list.
func presentPackages(ctx context.Context, img v1.Image, pkgs []debian.Package) ([]debian.Package, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("reading image layers: %w", err)
	}
	fs := &layerIndex{entries: map[string]*tar.Header{}, lists: map[string][]string{}}
	for i, l := range layers {
		if err := fs.add(ctx, l); err != nil {
			return nil, fmt.Errorf("reading layer %d: %w", i+1, err)
		}
	}
	var out []debian.Package
	for _, p := range pkgs {
		list, ok := fs.lists[p.Name+":"+p.Architecture]
		if !ok {
			list, ok = fs.lists[p.Name]
		}
		if !ok || fs.anyPresent(list) {
			out = append(out, p)
		}
	}
	return out, nil
}

// layerIndex is a flattened file list plus dpkg's package file lists.
type layerIndex struct {
	entries map[string]*tar.Header // by clean relative name
	lists   map[string][]string    // "name" or "name:arch" -> listed paths
}

func (x *layerIndex) add(ctx context.Context, l v1.Layer) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		x.entries[name] = h
		if strings.HasPrefix(name, dpkgInfo) && strings.HasSuffix(name, ".list") && h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				return err
			}
			pkg := strings.TrimSuffix(strings.TrimPrefix(name, dpkgInfo), ".list")
			x.lists[pkg] = strings.Split(strings.TrimSpace(string(b)), "\n")
		}
	}
}

// anyPresent reports whether list names a file still in the image, or
// names no file that could tell (only documentation and directories).
func (x *layerIndex) anyPresent(list []string) bool {
	absent := false
	for _, p := range list {
		name := strings.TrimPrefix(path.Clean("/"+p), "/")
		if name == "" || strings.HasPrefix(name, docDir) {
			continue
		}
		switch h := x.lookup(name); {
		case h == nil:
			absent = true // a removed file, or a removed directory
		case h.Typeflag != tar.TypeDir:
			return true
		}
	}
	return !absent
}

// lookup finds name, following symlinked parent directories (merged /usr:
// bin -> usr/bin) but not the entry itself.
func (x *layerIndex) lookup(name string) *tar.Header {
	for hops := 0; hops < 16; hops++ {
		if h, ok := x.entries[name]; ok {
			return h
		}
		parts := strings.Split(name, "/")
		moved := false
		for i := 1; i < len(parts); i++ {
			dir := strings.Join(parts[:i], "/")
			h, ok := x.entries[dir]
			if !ok || h.Typeflag != tar.TypeSymlink {
				continue
			}
			target := h.Linkname
			if !strings.HasPrefix(target, "/") {
				target = path.Join(path.Dir(dir), target)
			}
			name = strings.TrimPrefix(path.Clean("/"+target+"/"+strings.Join(parts[i:], "/")), "/")
			moved = true
			break
		}
		if !moved {
			return nil
		}
	}
	return nil
}
