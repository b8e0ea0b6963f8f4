package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-build/kiln/buildpacks/internal/nodepkg"
	"github.com/kiln-build/kiln/buildpacks/internal/semver"
)

// DefaultNodeRange is used when the app names no Node.js version: the
// active long-term support line.
const DefaultNodeRange = "24"

// ltsLines maps nvm's LTS code names to their major versions.
var ltsLines = map[string]string{
	"argon": "4", "boron": "6", "carbon": "8", "dubnium": "10", "erbium": "12",
	"fermium": "14", "gallium": "16", "hydrogen": "18", "iron": "20", "jod": "22", "krypton": "24",
}

// versionRequest is a Node.js (or npm) version range and where it came
// from.
type versionRequest struct {
	Raw    string // as written
	Range  semver.Range
	Source string
}

// Exact returns the version when the request names exactly one.
func (r versionRequest) Exact() (string, bool) {
	v, err := semver.Parse(strings.TrimSpace(r.Raw))
	if err != nil {
		return "", false
	}
	return v.String(), true
}

// nodeRequest works out the Node.js version range from BP_NODE_VERSION,
// engines.node, .nvmrc and .node-version, in that order.
func nodeRequest(appDir string, pkg *nodepkg.Package, bpNodeVersion string) (versionRequest, error) {
	type candidate struct{ raw, source string }
	var cands []candidate
	if v := strings.TrimSpace(bpNodeVersion); v != "" {
		cands = append(cands, candidate{v, "BP_NODE_VERSION"})
	}
	if v := strings.TrimSpace(pkg.Engines["node"]); v != "" {
		cands = append(cands, candidate{v, "engines.node in package.json"})
	}
	for _, f := range []string{".nvmrc", ".node-version"} {
		data, err := os.ReadFile(filepath.Join(appDir, f))
		if err != nil {
			continue
		}
		v, err := parseVersionFile(data)
		if err != nil {
			return versionRequest{}, fmt.Errorf("%s: %w", f, err)
		}
		if v != "" {
			cands = append(cands, candidate{v, f})
		}
	}
	if len(cands) == 0 {
		cands = append(cands, candidate{DefaultNodeRange, "the default, the current LTS line"})
	}
	c := cands[0]
	raw := c.raw
	if c.source != "engines.node in package.json" {
		raw = nvmAlias(raw)
	}
	r, err := semver.ParseRange(raw)
	if err != nil {
		return versionRequest{}, fmt.Errorf("%s: %w", c.source, err)
	}
	return versionRequest{Raw: raw, Range: r, Source: c.source}, nil
}

// parseVersionFile reads the first meaningful line of .nvmrc or
// .node-version; '#' starts a comment.
func parseVersionFile(data []byte) (string, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if line = strings.TrimSpace(line); line != "" {
			return line, nil
		}
	}
	return "", sc.Err()
}

// nvmAlias turns nvm's aliases into ranges: node, stable, latest and
// current are the newest release, lts/* is the default LTS line and
// lts/<name> that line.
func nvmAlias(v string) string {
	l := strings.ToLower(strings.TrimSpace(v))
	switch l {
	case "node", "stable", "latest", "current":
		return "*"
	case "lts/*", "lts", "lts/-0":
		return DefaultNodeRange
	}
	if name, ok := strings.CutPrefix(l, "lts/"); ok {
		if major, ok := ltsLines[name]; ok {
			return major
		}
	}
	return v
}

// npmRequest returns the npm range asked for by BP_NPM_VERSION,
// packageManager (npm@...) or engines.npm, or ok=false to take the npm
// that ships with the chosen Node.js.
func npmRequest(pkg *nodepkg.Package, bpNpmVersion string) (versionRequest, bool, error) {
	raw, src := strings.TrimSpace(bpNpmVersion), "BP_NPM_VERSION"
	if v, ok := strings.CutPrefix(strings.TrimSpace(pkg.PackageManager), "npm@"); raw == "" && ok {
		raw, src = strings.SplitN(v, "+", 2)[0], "packageManager in package.json"
	}
	if raw == "" {
		raw, src = strings.TrimSpace(pkg.Engines["npm"]), "engines.npm in package.json"
	}
	if raw == "" {
		return versionRequest{}, false, nil
	}
	r, err := semver.ParseRange(raw)
	if err != nil {
		return versionRequest{}, false, fmt.Errorf("%s: %w", src, err)
	}
	return versionRequest{Raw: raw, Range: r, Source: src}, true, nil
}

// bundledNpm maps Node.js major versions to the npm major version their
// releases ship with (nodejs.org's release index): newer npm lines change
// behaviour (git dependencies, install scripts) an app did not ask for.
var bundledNpm = map[uint64]string{
	14: "6", 16: "8", 17: "8", 18: "10", 19: "9", 20: "10", 21: "10", 22: "10", 23: "10",
	24: "11", 25: "11", 26: "11",
}

// bundledNpmRange is the npm line that ships with Node.js nodeVersion: the
// table's, the newest known line for a newer Node.js, any npm for an
// older one.
func bundledNpmRange(nodeVersion string) string {
	v, err := semver.Parse(nodeVersion)
	if err != nil {
		return "*"
	}
	if r, ok := bundledNpm[v.Major()]; ok {
		return r
	}
	var top uint64
	for m := range bundledNpm {
		top = max(top, m)
	}
	if v.Major() > top {
		return bundledNpm[top]
	}
	return "*"
}
