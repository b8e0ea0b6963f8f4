package buildpackage

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// ConfigFile is the usual name of a buildpackage configuration.
const ConfigFile = "package.toml"

// Config is a package.toml as pack users write it.
type Config struct {
	// Path is the file the configuration came from; relative URIs are
	// relative to its directory.
	Path string `toml:"-"`
	// Buildpack is the entrypoint buildpack ("." when left out).
	Buildpack ConfigURI `toml:"buildpack"`
	// Dependencies bring the buildpacks a composite buildpack's order
	// names.
	Dependencies []Dependency   `toml:"dependencies"`
	Platform     ConfigPlatform `toml:"platform"`
	Targets      []ConfigTarget `toml:"targets"`
}

// ConfigURI is the [buildpack] table.
type ConfigURI struct {
	URI string `toml:"uri"`
}

// Dependency is one [[dependencies]] entry: uri, or the deprecated image.
type Dependency struct {
	URI   string `toml:"uri"`
	Image string `toml:"image"`
}

// Ref returns what the dependency names: its uri, else docker://image.
func (d Dependency) Ref() string {
	if d.URI != "" {
		return d.URI
	}
	return "docker://" + d.Image
}

// ConfigPlatform is the [platform] table.
type ConfigPlatform struct {
	OS string `toml:"os"`
}

// ConfigTarget is a [[targets]] entry: the platform the package image
// records. kiln writes one image, so at most one target is allowed.
type ConfigTarget struct {
	OS            string         `toml:"os"`
	Arch          string         `toml:"arch"`
	Variant       string         `toml:"variant"`
	Distributions []ConfigDistro `toml:"distributions"`
	Distros       []ConfigDistro `toml:"distros"`
}

// ConfigDistro is a distribution of a target; kiln records it nowhere.
type ConfigDistro struct {
	Name     string   `toml:"name"`
	Version  string   `toml:"version"`
	Versions []string `toml:"versions"`
}

// DefaultConfig is the configuration used when a buildpack directory has
// no package.toml: the directory itself, no dependencies.
func DefaultConfig(dir string) *Config {
	return &Config{Path: filepath.Join(dir, ConfigFile), Buildpack: ConfigURI{URI: "."}}
}

// ReadConfig reads and checks the package.toml at path.
func ReadConfig(path string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	c, err := DecodeConfig(abs, data)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// DecodeConfig decodes and checks a package.toml; name (the file path)
// starts every error and becomes Path. Keys pack does not define are an
// error, as are a dependency with neither or both of uri and image, a
// platform other than linux, and more than one target.
func DecodeConfig(name string, data []byte) (*Config, error) {
	c := &Config{}
	md, err := toml.Decode(string(data), c)
	if err != nil {
		return nil, inputErrorf("parsing %s: %w", name, err)
	}
	if err := UnknownKeys(name, md); err != nil {
		return nil, err
	}
	c.Path = name
	if c.Buildpack.URI == "" {
		c.Buildpack.URI = "."
	}
	for i, d := range c.Dependencies {
		switch {
		case d.URI == "" && d.Image == "":
			return nil, inputErrorf("%s: [[dependencies]] #%d: uri is missing", name, i+1)
		case d.URI != "" && d.Image != "":
			return nil, inputErrorf("%s: [[dependencies]] #%d: give uri or image, not both", name, i+1)
		}
	}
	if p := c.Platform.OS; p != "" && p != "linux" {
		return nil, inputErrorf("%s: [platform] os %q: kiln packages linux buildpacks only", name, p)
	}
	for _, t := range c.Targets {
		if t.OS != "" && t.OS != "linux" {
			return nil, inputErrorf("%s: [[targets]] os %q: kiln packages linux buildpacks only", name, t.OS)
		}
	}
	return c, nil
}

// UnknownKeys returns an *InputError naming the keys of md that decoded
// into nothing (name is the file), leaving out those under the top-level
// tables in ignore. It serves every strict configuration decoder.
func UnknownKeys(name string, md toml.MetaData, ignore ...string) error {
	var bad []string
outer:
	for _, k := range md.Undecoded() {
		for _, ig := range ignore {
			if len(k) > 0 && k[0] == ig {
				continue outer
			}
		}
		bad = append(bad, k.String())
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	quoted := make([]string, len(bad))
	for i, b := range bad {
		quoted[i] = fmt.Sprintf("%q", b)
	}
	word := "key"
	if len(bad) > 1 {
		word = "keys"
	}
	return inputErrorf("%s: unknown %s %s", name, word, strings.Join(quoted, ", "))
}
