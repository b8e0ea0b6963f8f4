package npmreg

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-build/kiln/buildpacks/internal/fetch"
	"github.com/kiln-build/kiln/buildpacks/internal/semver"
	"github.com/kiln-build/kiln/buildpacks/internal/unpack"
)

// DefaultRegistry is npm's public registry.
const DefaultRegistry = "https://registry.npmjs.org"

// Registry is an npm registry.
type Registry struct {
	URL   string // DefaultRegistry when empty
	Fetch *fetch.Client
}

// RegistryFromEnv returns the registry named by npm_config_registry (in
// either case), else DefaultRegistry.
func RegistryFromEnv(getenv func(string) string) string {
	for _, k := range []string{"npm_config_registry", "NPM_CONFIG_REGISTRY"} {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return strings.TrimRight(v, "/")
		}
	}
	return DefaultRegistry
}

// Dist says where a version's tarball is and how to check it.
type Dist struct {
	Tarball   string `json:"tarball"`
	Integrity string `json:"integrity"`
	Shasum    string `json:"shasum"`
}

// Version is one version of a package in a packument.
type Version struct {
	Version string  `json:"version"`
	Engines Engines `json:"engines"`
	Dist    Dist    `json:"dist"`
}

// Engines is the engines field; old packages give it as an array, which
// is ignored.
type Engines map[string]string

// UnmarshalJSON accepts an object of strings and ignores anything else.
func (e *Engines) UnmarshalJSON(b []byte) error {
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		*e = nil
		return nil
	}
	out := Engines{}
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	*e = out
	return nil
}

// Packument is a package's metadata document.
type Packument struct {
	Name     string             `json:"name"`
	DistTags map[string]string  `json:"dist-tags"`
	Versions map[string]Version `json:"versions"`
}

// ParsePackument decodes a packument.
func ParsePackument(data []byte) (*Packument, error) {
	var p Packument
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("decoding packument: %w", err)
	}
	if p.Name == "" || len(p.Versions) == 0 {
		return nil, fmt.Errorf("decoding packument: no name or no versions")
	}
	return &p, nil
}

func (r *Registry) base() string {
	if r.URL == "" {
		return DefaultRegistry
	}
	return strings.TrimRight(r.URL, "/")
}

// Packument fetches the abbreviated metadata of package name.
func (r *Registry) Packument(ctx context.Context, name string) (*Packument, error) {
	u := r.base() + "/" + strings.Replace(url.PathEscape(name), "%40", "@", 1)
	h := http.Header{"Accept": {"application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8"}}
	data, err := r.Fetch.Get(ctx, u, h, 64<<20)
	if err != nil {
		return nil, fmt.Errorf("fetching metadata of npm package %s: %w", name, err)
	}
	p, err := ParsePackument(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	return p, nil
}

// Stable returns the package's versions without prereleases, parsed;
// versions that are not valid semver are left out.
func (p *Packument) Stable() []semver.Version {
	var out []semver.Version
	for k := range p.Versions {
		v, err := semver.Parse(k)
		if err != nil || v.Prerelease() != "" {
			continue
		}
		out = append(out, v)
	}
	return out
}

// Resolve returns the highest version that rng contains and for which ok
// (when not nil) returns true.
func (p *Packument) Resolve(rng semver.Range, ok func(Version) bool) (Version, bool) {
	var cands []semver.Version
	for _, v := range p.Stable() {
		if ok == nil || ok(p.Versions[v.String()]) {
			cands = append(cands, v)
		}
	}
	best, found := semver.MaxSatisfying(cands, rng)
	if !found {
		return Version{}, false
	}
	return p.Versions[best.String()], true
}

// Install downloads v's tarball, checks its integrity (or shasum for old
// packages) and unpacks it into dest without the leading "package/"
// directory; skip leaves out paths it returns true for.
func (r *Registry) Install(ctx context.Context, name string, v Version, dest string, skip func(string) bool) error {
	var d fetch.Digest
	var err error
	switch {
	case v.Dist.Integrity != "":
		d, err = fetch.SRI(v.Dist.Integrity)
	case v.Dist.Shasum != "":
		d, err = fetch.Hex("sha1", v.Dist.Shasum)
	default:
		err = fmt.Errorf("the registry gives no checksum")
	}
	if err != nil {
		return fmt.Errorf("npm package %s@%s: %w", name, v.Version, err)
	}
	if v.Dist.Tarball == "" {
		return fmt.Errorf("npm package %s@%s: the registry gives no tarball", name, v.Version)
	}
	tmp, err := os.MkdirTemp("", "npm-")
	if err != nil {
		return fmt.Errorf("creating a download directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	tgz := filepath.Join(tmp, "package.tgz")
	if err := r.Fetch.Download(ctx, v.Dist.Tarball, tgz, &d); err != nil {
		return fmt.Errorf("npm package %s@%s: %w", name, v.Version, err)
	}
	f, err := os.Open(tgz)
	if err != nil {
		return fmt.Errorf("opening %s: %w", tgz, err)
	}
	defer f.Close()
	if err := unpack.Tar(f, dest, unpack.Options{StripComponents: 1, Skip: skip}); err != nil {
		return fmt.Errorf("unpacking npm package %s@%s: %w", name, v.Version, err)
	}
	return nil
}
