package sdk

import (
	"bytes"
	"fmt"
	"os"

	"github.com/BurntSushi/toml"

	"github.com/kiln-build/kiln/internal/cnbtoml"
)

// The launch.toml and build.toml schema is shared with the lifecycle,
// which buildpacks/ may not import, through internal/cnbtoml.
type (
	// Process is a [[processes]] entry of launch.toml. Since Buildpack API
	// 0.9 every process runs directly: Command[0] is executed with
	// Command[1:] and then Args, which a user's arguments replace.
	Process = cnbtoml.Process
	// Label is a [[labels]] entry of launch.toml: an image label.
	Label = cnbtoml.Label
	// Slice is a [[slices]] entry of launch.toml: glob patterns of app
	// files that go into a layer of their own.
	Slice = cnbtoml.Slice
	// Launch is the content of launch.toml.
	Launch = cnbtoml.Launch
	// Build is the content of build.toml: plan entries this buildpack did
	// not satisfy, which go to the next buildpack that provides them.
	Build = cnbtoml.Build
	// Unmet is an [[unmet]] entry of build.toml.
	Unmet = cnbtoml.Unmet
)

// ValidProcessType reports whether t may name a process.
func ValidProcessType(t string) bool { return cnbtoml.ValidProcessType(t) }

func writeTOMLFile(path string, v any) error {
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(v); err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
