package launch

import (
	"fmt"

	"github.com/kiln-build/kiln/internal/cnbtoml"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// MetadataBuildpack is a buildpack that ran in the build phase.
type MetadataBuildpack struct {
	ID       string `toml:"id"`
	Version  string `toml:"version"`
	API      string `toml:"api"`
	Homepage string `toml:"homepage,omitempty"`
	Optional bool   `toml:"optional,omitempty"`
}

// AllExecEnvs is the exec-env value of a process that applies to every
// execution environment.
const AllExecEnvs = "*"

// MetadataProcess is a process in metadata.toml: the merged, resolved form
// of a launch.toml process.
type MetadataProcess struct {
	Type    string   `toml:"type"`
	Command []string `toml:"command"`
	Args    []string `toml:"args"`
	// Direct is true for every process of Buildpack API 0.9 and later;
	// false means run Command[0] as a shell script with Args appended.
	Direct     bool   `toml:"direct"`
	WorkingDir string `toml:"working-dir,omitempty"`
	// ExecEnv lists the execution environments the process applies to;
	// ["*"] (AllExecEnvs) means all, and so does an empty list when read.
	ExecEnv     []string `toml:"exec-env"`
	BuildpackID string   `toml:"buildpack-id"`
}

// AppliesTo reports whether the process is eligible for execution
// environment execEnv.
func (p MetadataProcess) AppliesTo(execEnv string) bool {
	return descriptor.ExecEnvs(p.ExecEnv).Supports(execEnv)
}

// Metadata is <layers>/config/metadata.toml, written by the builder and read
// by the exporter and the launcher.
type Metadata struct {
	// BuildpackDefaultProcessType is the buildpack-provided default
	// process type; empty when there is none.
	BuildpackDefaultProcessType string              `toml:"buildpack-default-process-type,omitempty"`
	Buildpacks                  []MetadataBuildpack `toml:"buildpacks"`
	Extensions                  []MetadataBuildpack `toml:"extensions,omitempty"`
	Processes                   []MetadataProcess   `toml:"processes"`
	// Slices are all buildpacks' slices, in buildpack order.
	Slices []Slice `toml:"slices"`
	// Labels are the merged labels (last writer wins), in first-seen order.
	Labels []Label `toml:"labels"`
}

// Process returns the process of type t, if any.
func (m Metadata) Process(t string) (MetadataProcess, bool) {
	for _, p := range m.Processes {
		if p.Type == t {
			return p, true
		}
	}
	return MetadataProcess{}, false
}

// Buildpack returns the buildpack with id, if any.
func (m Metadata) Buildpack(id string) (MetadataBuildpack, bool) {
	for _, b := range m.Buildpacks {
		if b.ID == id {
			return b, true
		}
	}
	return MetadataBuildpack{}, false
}

// Validate checks that buildpacks have id, version and api, that process
// types are valid and unique with non-empty commands, and that the default
// process type, when set, names one of the processes.
func (m Metadata) Validate() error {
	if err := m.checkLimits(); err != nil {
		return err
	}
	for i, b := range m.Buildpacks {
		if b.ID == "" || b.Version == "" || b.API == "" {
			return fmt.Errorf("buildpack %d (%q): id, version and api are required", i, b.ID)
		}
	}
	seen := map[string]bool{}
	for i, p := range m.Processes {
		if err := cnbtoml.CheckProcess(i, p.Type, p.Command, seen, "appears twice"); err != nil {
			return err
		}
	}
	if d := m.BuildpackDefaultProcessType; d != "" && !seen[d] {
		return fmt.Errorf("default process type %q is not among the processes", d)
	}
	return nil
}

// Limits on what a build may hand back in metadata.toml: far above what
// real buildpacks declare, low enough that a hostile one cannot bloat the
// image config (which every pull reads whole) or the launcher's work.
const (
	MaxProcesses  = 1000
	MaxSlices     = 1000
	MaxSlicePaths = 10000 // patterns of all slices together: each is matched against every app path
	MaxLabels     = 1000
	MaxLabelBytes = 64 << 10 // one label's key plus value
	MaxLabelTotal = 1 << 20  // all labels together
	MaxArgs       = 10000    // command plus args of one process
)

// checkLimits refuses metadata over the limits, saying which one.
func (m Metadata) checkLimits() error {
	switch {
	case len(m.Processes) > MaxProcesses:
		return fmt.Errorf("%d process types declared; kiln accepts at most %d", len(m.Processes), MaxProcesses)
	case len(m.Slices) > MaxSlices:
		return fmt.Errorf("%d slices declared; kiln accepts at most %d", len(m.Slices), MaxSlices)
	case len(m.Labels) > MaxLabels:
		return fmt.Errorf("%d labels declared; kiln accepts at most %d", len(m.Labels), MaxLabels)
	}
	paths := 0
	for _, s := range m.Slices {
		paths += len(s.Paths)
	}
	if paths > MaxSlicePaths {
		return fmt.Errorf("%d slice paths declared; kiln accepts at most %d", paths, MaxSlicePaths)
	}
	for _, p := range m.Processes {
		if n := len(p.Command) + len(p.Args); n > MaxArgs {
			return fmt.Errorf("process %q has %d arguments; kiln accepts at most %d", p.Type, n, MaxArgs)
		}
	}
	total := 0
	for _, l := range m.Labels {
		n := len(l.Key) + len(l.Value)
		if n > MaxLabelBytes {
			return fmt.Errorf("label %.64q is %d bytes; kiln accepts at most %d per label", l.Key, n, MaxLabelBytes)
		}
		total += n
	}
	if total > MaxLabelTotal {
		return fmt.Errorf("labels total %d bytes; kiln accepts at most %d", total, MaxLabelTotal)
	}
	return nil
}

// DecodeMetadata decodes and validates the content of a metadata.toml;
// name identifies it in errors.
func DecodeMetadata(name string, data []byte) (Metadata, error) {
	var m Metadata
	if _, err := descriptor.DecodeTOML(name, data, &m); err != nil {
		return Metadata{}, err
	}
	if err := m.Validate(); err != nil {
		return Metadata{}, fmt.Errorf("%s: %w", name, err)
	}
	return m, nil
}

// ReadMetadata reads and validates metadata.toml at path. A missing file
// is an error wrapping fs.ErrNotExist.
func ReadMetadata(path string) (Metadata, error) {
	var m Metadata
	if _, err := descriptor.ReadTOMLFile(path, &m); err != nil {
		return Metadata{}, err
	}
	if err := m.Validate(); err != nil {
		return Metadata{}, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// WriteMetadata validates m and writes it to path.
func WriteMetadata(path string, m Metadata) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return descriptor.WriteTOMLFile(path, m)
}
