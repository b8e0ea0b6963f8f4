package sdk

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/BurntSushi/toml"
)

// Info is what a buildpack knows about itself from its buildpack.toml.
type Info struct {
	ID      string
	Version string
	Name    string
	// Dir is CNB_BUILDPACK_DIR, the directory holding buildpack.toml.
	Dir string
}

// String returns "name version", or "id version" without a name.
func (i Info) String() string {
	n := i.Name
	if n == "" {
		n = i.ID
	}
	return n + " " + i.Version
}

// ReadInfo reads <dir>/buildpack.toml.
func ReadInfo(dir string) (Info, error) {
	p := filepath.Join(dir, "buildpack.toml")
	data, err := os.ReadFile(p)
	if err != nil {
		return Info{}, fmt.Errorf("reading %s: %w", p, err)
	}
	var f struct {
		Buildpack struct {
			ID      string `toml:"id"`
			Version string `toml:"version"`
			Name    string `toml:"name"`
		} `toml:"buildpack"`
	}
	if err := toml.Unmarshal(data, &f); err != nil {
		return Info{}, fmt.Errorf("parsing %s: %w", p, err)
	}
	if f.Buildpack.ID == "" || f.Buildpack.Version == "" {
		return Info{}, fmt.Errorf("%s: [buildpack] id and version are required", p)
	}
	return Info{ID: f.Buildpack.ID, Version: f.Buildpack.Version, Name: f.Buildpack.Name, Dir: dir}, nil
}

// Target is the run image the app is built for, from the CNB_TARGET_*
// variables (buildpack.md, §Targets). Empty fields are unknown.
type Target struct {
	OS            string
	Arch          string
	ArchVariant   string
	DistroName    string
	DistroVersion string
}

// TargetFromEnv reads CNB_TARGET_* with getenv.
func TargetFromEnv(getenv func(string) string) Target {
	return Target{
		OS:            getenv("CNB_TARGET_OS"),
		Arch:          getenv("CNB_TARGET_ARCH"),
		ArchVariant:   getenv("CNB_TARGET_ARCH_VARIANT"),
		DistroName:    getenv("CNB_TARGET_DISTRO_NAME"),
		DistroVersion: getenv("CNB_TARGET_DISTRO_VERSION"),
	}
}
