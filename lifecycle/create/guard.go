package create

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kiln-build/kiln/internal/beneath"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/launch"
)

// What the host reads of a build's output is bounded.
const (
	// maxErrorText is how much of a phase's error file is shown.
	maxErrorText = 64 << 10
	// maxLayersEntries bounds the entries of /layers and of each
	// buildpack's directory in it, the levels the host reads by name.
	maxLayersEntries = 100000
)

// buildOutput is the host's view of the directories a build container
// wrote: every read resolves beneath them without following a symlink.
type buildOutput struct {
	layers *beneath.Root
}

func newBuildOutput(w dirs) buildOutput {
	return buildOutput{layers: beneath.New(w.layers, func(rel string) string {
		if rel == "." {
			return LayersPath
		}
		return LayersPath + "/" + rel
	})}
}

// check refuses a layers dir the phase left in a shape the host must not
// act on: at /layers and /layers/<buildpack> (where the host later looks
// for layer directories, TOML, SBOM and message files, and writes restored
// layers) only directories and regular files may stand, never a symlink
// or a FIFO.
func (b buildOutput) check(phase string, code int) error {
	if err := b.layers.CheckShape(2, maxLayersEntries); err != nil {
		return failure.New(phase, code, fmt.Errorf("the %s phase left %w; refusing the build", phase, err))
	}
	return nil
}

// errorText is the message a failed phase left in rel, if any, shortened
// to maxErrorText. A file that is a link or not a regular file is named
// instead of read.
func (b buildOutput) errorText(rel string) string {
	data, more, err := b.layers.ReadHead(rel, maxErrorText)
	switch {
	case errors.Is(err, beneath.ErrSymlink), errors.Is(err, beneath.ErrNotRegular):
		return fmt.Sprintf("(not shown: %v)", err)
	case err != nil:
		return ""
	}
	s := strings.TrimSpace(strings.ToValidUTF8(string(data), "\uFFFD"))
	if more {
		s += fmt.Sprintf("\n... (message cut at %d bytes)", maxErrorText)
	}
	return s
}

// group reads the detected group.toml.
func (b buildOutput) group() ([]descriptor.GroupEntry, error) {
	data, err := b.layers.ReadFile(descriptor.GroupFile, descriptor.MaxTOMLSize)
	if err != nil {
		return nil, err
	}
	return descriptor.DecodeGroup(LayersPath+"/"+descriptor.GroupFile, data)
}

// metadata reads config/metadata.toml, which the build phase wrote.
func (b buildOutput) metadata() (launch.Metadata, error) {
	const rel = "config/metadata.toml"
	data, err := b.layers.ReadFile(rel, descriptor.MaxTOMLSize)
	if err != nil {
		return launch.Metadata{}, err
	}
	return launch.DecodeMetadata(LayersPath+"/"+rel, data)
}
