package main

import (
	"fmt"
	"go/version"
	"regexp"
	"strings"
)

// firstToolchain is the first Go release published as a golang.org/toolchain
// module.
const firstToolchain = "1.21.0"

// versionRequest is which Go the app asks for, before looking at what the
// proxy has.
type versionRequest struct {
	// Exact is a full version ("1.22.5", "1.23rc1") to install as it is.
	Exact string
	// Line is a release line ("1.22") whose newest patch release at or
	// above Min is wanted; both empty means the newest stable release.
	Line string
	Min  string
	// Source explains where the request came from, for the log.
	Source string
}

var (
	stableRE = regexp.MustCompile(`^[1-9][0-9]*\.[0-9]+\.[0-9]+$`)
	lineRE   = regexp.MustCompile(`^[1-9][0-9]*\.[0-9]+$`)
)

// request works out the Go version from BP_GO_VERSION (bpGoVersion) and
// go.mod's toolchain and go lines, in that order.
func request(mod goMod, bpGoVersion string) (versionRequest, error) {
	goLine := mod.Go
	if goLine != "" && !version.IsValid("go"+goLine) {
		return versionRequest{}, fmt.Errorf("go.mod: go line %q is not a Go version", goLine)
	}
	if v := strings.TrimSpace(bpGoVersion); v != "" {
		r, err := parseRequested(v)
		if err != nil {
			return versionRequest{}, fmt.Errorf("BP_GO_VERSION=%q: %w", bpGoVersion, err)
		}
		r.Source = "BP_GO_VERSION=" + v
		if goLine != "" {
			top := r.Exact
			if top == "" && r.Line != "" {
				top = r.Line + ".999999"
			}
			if top != "" && version.Compare("go"+top, "go"+goLine) < 0 {
				return versionRequest{}, fmt.Errorf("BP_GO_VERSION=%q is older than go.mod's \"go %s\"", bpGoVersion, goLine)
			}
			if r.Line != "" && version.Lang("go"+goLine) == "go"+r.Line {
				r.Min = goLine
			}
		}
		return r, nil
	}
	if t := mod.Toolchain; t != "" && version.IsValid("go"+t) && (goLine == "" || version.Compare("go"+t, "go"+goLine) >= 0) {
		return versionRequest{Exact: t, Source: "go.mod toolchain go" + t}, nil
	}
	if goLine == "" {
		return versionRequest{Source: "newest release; go.mod has no go line"}, nil
	}
	if version.Compare("go"+goLine, "go"+firstToolchain) < 0 {
		return versionRequest{Source: fmt.Sprintf("newest release; go.mod's \"go %s\" predates toolchain downloads (Go %s)", goLine, firstToolchain)}, nil
	}
	if !stableRE.MatchString(goLine) && !lineRE.MatchString(goLine) {
		// a prerelease such as 1.23rc1 names one exact toolchain
		return versionRequest{Exact: goLine, Source: "go.mod go " + goLine}, nil
	}
	line := strings.TrimPrefix(version.Lang("go"+goLine), "go")
	return versionRequest{Line: line, Min: goLine, Source: fmt.Sprintf("newest %s release, from go.mod's \"go %s\"", line, goLine)}, nil
}

// parseRequested parses a BP_GO_VERSION value: "1.22.5", "go1.22.5",
// "1.22", "1.22.x", "1.23rc1" or "latest".
func parseRequested(v string) (versionRequest, error) {
	v = strings.TrimPrefix(v, "go")
	switch {
	case v == "latest" || v == "*":
		return versionRequest{}, nil
	case lineRE.MatchString(strings.TrimSuffix(strings.TrimSuffix(v, ".x"), ".*")):
		return versionRequest{Line: strings.TrimSuffix(strings.TrimSuffix(v, ".x"), ".*")}, nil
	case version.IsValid("go" + v):
		return versionRequest{Exact: v}, nil
	}
	return versionRequest{}, fmt.Errorf("not a Go version; use for example 1.22.5, 1.22 or latest")
}

// resolve picks the version to install. available is the proxy's list
// (lowest first); it is only needed when r is not exact.
func resolve(r versionRequest, available []string) (string, error) {
	if r.Exact != "" {
		return r.Exact, nil
	}
	for i := len(available) - 1; i >= 0; i-- {
		v := available[i]
		if !stableRE.MatchString(v) {
			continue
		}
		if r.Line != "" && version.Lang("go"+v) != "go"+r.Line {
			continue
		}
		if r.Min != "" && version.Compare("go"+v, "go"+r.Min) < 0 {
			continue
		}
		return v, nil
	}
	switch {
	case r.Line != "":
		min := r.Line
		if r.Min != "" {
			min = r.Min
		}
		return "", fmt.Errorf("no Go %s release at or above %s is published (%s)", r.Line, min, r.Source)
	}
	return "", fmt.Errorf("the module proxy lists no stable Go release")
}
