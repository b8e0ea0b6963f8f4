package archive

import (
	"context"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/internal/extract"
)

// ExtractOptions control Extract and ExtractImage.
type ExtractOptions struct {
	// PreserveOwner sets each entry's numeric owner from its header, which
	// needs root (or CAP_CHOWN). Otherwise entries belong to the caller.
	PreserveOwner bool
	// Whiteouts interprets OCI whiteout entries: ".wh.<name>" deletes <name>
	// from lower layers and ".wh..wh..opq" empties its directory of lower
	// layers' contents. Otherwise they are extracted as ordinary files.
	// ExtractImage always sets it.
	Whiteouts bool
	// OnSkip is told about every entry left out: character and block
	// devices and fifos (reason wraps ErrSpecialFile) and unknown entry
	// types. A non-nil return aborts extraction with that error.
	OnSkip func(name string, reason error) error
	// MaxBytes and MaxEntries, when above zero, bound the bytes of files
	// and the entries written in all; past either, extraction fails with
	// extract.ErrTooLarge before the entry that passes it.
	MaxBytes   int64
	MaxEntries int
}

// Extract unpacks the tar stream r beneath dest, creating dest if needed.
// It is kiln's one safe-extraction core (internal/extract), which the
// buildpacks' downloads go through as well.
//
// All file system access goes through an os.Root of dest: an entry whose
// cleaned name is absolute or climbs out with "..", a hardlink to a name
// outside dest, and any write through a symlink leading outside dest fail
// with an error naming the entry. Modes (setuid, setgid and sticky bits
// included), symlink targets, hardlinks and modification times are kept;
// directory modes and times are applied once every entry is written, so a
// read-only directory can still be filled. Devices and fifos are skipped.
// An existing entry is replaced, never written through (a hardlinked file
// is unlinked, not truncated); an existing directory is kept when the entry
// is a directory.
func Extract(ctx context.Context, r io.Reader, dest string, opts ExtractOptions) error {
	return extract.Extract(ctx, r, dest, internalOptions(opts))
}

// ExtractImage applies the layers of img in order beneath dest, honouring
// whiteouts, as Extract does for each.
func ExtractImage(ctx context.Context, img v1.Image, dest string, opts ExtractOptions) error {
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("listing image layers: %w", err)
	}
	opts.Whiteouts = true
	return ExtractLayers(ctx, layers, dest, opts)
}

// ExtractLayers applies layers in order beneath dest, as Extract does for
// each: an entry of a later layer replaces the earlier one's, and
// directory modes and times are applied once all are written.
func ExtractLayers(ctx context.Context, layers []v1.Layer, dest string, opts ExtractOptions) error {
	x, err := extract.New(dest, internalOptions(opts))
	if err != nil {
		return err
	}
	defer x.Close()
	for i, l := range layers {
		if err := extractLayer(ctx, x, l); err != nil {
			d, _ := l.DiffID()
			return fmt.Errorf("layer %d (%s): %w", i, d, err)
		}
	}
	return x.Finish()
}

func extractLayer(ctx context.Context, x *extract.Extractor, l v1.Layer) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return fmt.Errorf("opening layer: %w", err)
	}
	defer rc.Close()
	return x.Tar(ctx, rc)
}

func internalOptions(o ExtractOptions) extract.Options {
	return extract.Options{PreserveOwner: o.PreserveOwner, Whiteouts: o.Whiteouts, OnSkip: o.OnSkip,
		MaxBytes: o.MaxBytes, MaxEntries: o.MaxEntries}
}
