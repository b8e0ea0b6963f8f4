package imageio

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Kind says where a Location points.
type Kind int

// The kinds of location kiln reads images from and writes them to.
const (
	// Store is kiln's local store, addressed by image name.
	Store Kind = iota
	// Registry is an OCI distribution registry.
	Registry
	// Layout is an OCI image layout directory.
	Layout
	// Archive is a docker-archive tarball (docker save format).
	Archive
)

func (k Kind) String() string {
	switch k {
	case Store:
		return "local store"
	case Registry:
		return "registry"
	case Layout:
		return "OCI layout"
	case Archive:
		return "docker-archive"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Location is a parsed place for one image.
type Location struct {
	Kind Kind
	// Name is the image name: the registry reference, the store name, or
	// the tag recorded in a layout or archive.
	Name string
	// Path is the layout directory or the archive file.
	Path string
}

func (l Location) String() string {
	switch l.Kind {
	case Layout:
		return "oci:" + l.Path
	case Archive:
		return "docker-archive:" + l.Path
	}
	return l.Name
}

// ParseOutput parses the value of an --output flag: "oci:DIR" or
// "docker-archive:FILE". name is the image name recorded inside.
func ParseOutput(s, imageName string) (Location, error) {
	switch {
	case strings.HasPrefix(s, "oci:"):
		p := strings.TrimPrefix(s, "oci:")
		if p == "" {
			return Location{}, fmt.Errorf("output %q: oci: needs a directory", s)
		}
		return Location{Kind: Layout, Path: p, Name: imageName}, nil
	case strings.HasPrefix(s, "docker-archive:"):
		p := strings.TrimPrefix(s, "docker-archive:")
		if p == "" {
			return Location{}, fmt.Errorf("output %q: docker-archive: needs a file name", s)
		}
		return Location{Kind: Archive, Path: p, Name: imageName}, nil
	}
	return Location{}, fmt.Errorf("output %q: want oci:DIR or docker-archive:FILE", s)
}

// ParseSource parses a reference to an image to read: "oci:DIR",
// "docker-archive:FILE", or an image name that is looked up in the local
// store first and then in its registry.
func ParseSource(s string) (Location, error) {
	if strings.HasPrefix(s, "oci:") || strings.HasPrefix(s, "docker-archive:") {
		return ParseOutput(s, "")
	}
	n, err := NormalizeName(s)
	if err != nil {
		return Location{}, err
	}
	return Location{Kind: Store, Name: n}, nil
}

// NormalizeName checks an image name and adds the tag "latest" when it has
// neither a tag nor a digest.
func NormalizeName(s string) (string, error) {
	ref, err := name.ParseReference(s, name.WeakValidation)
	if err != nil {
		return "", fmt.Errorf("image name %q: %w", s, err)
	}
	if _, ok := ref.(name.Digest); ok {
		return s, nil
	}
	last := s[strings.LastIndex(s, "/")+1:]
	if !strings.Contains(last, ":") {
		return s + ":latest", nil
	}
	return s, nil
}

// NamesRegistry says whether the image name s names its registry: its
// first path component is a host (has a '.' or ':', or is localhost), as
// in "ghcr.io/o/run" or "docker.io/o/run", not "o/run" or "run". A name
// that names no registry is, to kiln, a name in its local store: it is
// never looked up on Docker Hub by default where the image does not say
// so.
func NamesRegistry(s string) bool {
	first, _, ok := strings.Cut(s, "/")
	if !ok {
		return false
	}
	return strings.ContainsAny(first, ".:") || first == "localhost"
}
