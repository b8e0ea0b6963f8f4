package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// constraint is one statement of which Python the app needs.
type constraint struct {
	set    specifierSet
	source string
}

// project is what the buildpack reads from pyproject.toml.
type project struct {
	RequiresPython string
	Dependencies   []string
	HasPoetry      bool
}

// parsePyproject reads the [project] table of pyproject.toml content.
func parsePyproject(name string, data []byte) (project, error) {
	var f struct {
		Project struct {
			RequiresPython string   `toml:"requires-python"`
			Dependencies   []string `toml:"dependencies"`
		} `toml:"project"`
		Tool map[string]any `toml:"tool"`
	}
	if _, err := toml.Decode(string(data), &f); err != nil {
		return project{}, fmt.Errorf("%s: %w", name, err)
	}
	_, poetry := f.Tool["poetry"]
	return project{RequiresPython: f.Project.RequiresPython, Dependencies: f.Project.Dependencies, HasPoetry: poetry}, nil
}

// readPyproject reads the app's pyproject.toml; without one the project
// is empty.
func readPyproject(app string) (project, error) {
	p := filepath.Join(app, "pyproject.toml")
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return project{}, nil
	}
	if err != nil {
		return project{}, fmt.Errorf("reading %s: %w", p, err)
	}
	return parsePyproject(p, data)
}

var (
	minorRE   = regexp.MustCompile(`^\d+\.\d+(\.\d+)?$`)
	runtimeRE = regexp.MustCompile(`^python-(\d+\.\d+(\.\d+)?)$`)
)

// versionConstraints collects what BP_PYTHON_VERSION, .python-version,
// runtime.txt and pyproject.toml's requires-python ask for. A plain
// version (3.11 or 3.11.2) means that minor line.
func versionConstraints(app string, pr project, bpPythonVersion string) ([]constraint, error) {
	var out []constraint
	add := func(raw, source string) error {
		raw = strings.TrimSpace(raw)
		spec := raw
		if minorRE.MatchString(raw) {
			parts := strings.Split(raw, ".")
			spec = "==" + parts[0] + "." + parts[1] + ".*"
		}
		set, err := parseSpecifiers(spec)
		if err != nil {
			return fmt.Errorf("%s: %w", source, err)
		}
		out = append(out, constraint{set: set, source: fmt.Sprintf("%s %q", source, raw)})
		return nil
	}
	if v := strings.TrimSpace(bpPythonVersion); v != "" {
		if err := add(v, "BP_PYTHON_VERSION"); err != nil {
			return nil, err
		}
	}
	if data, err := os.ReadFile(filepath.Join(app, ".python-version")); err == nil {
		v := firstLine(data)
		if v != "" && v != "system" {
			if !minorRE.MatchString(v) {
				return nil, fmt.Errorf(".python-version: %q is not a CPython version such as 3.11", v)
			}
			if err := add(v, ".python-version"); err != nil {
				return nil, err
			}
		}
	}
	if data, err := os.ReadFile(filepath.Join(app, "runtime.txt")); err == nil {
		v := firstLine(data)
		m := runtimeRE.FindStringSubmatch(v)
		if m == nil {
			return nil, fmt.Errorf("runtime.txt: %q is not python-<version>, such as python-3.11", v)
		}
		if err := add(m[1], "runtime.txt"); err != nil {
			return nil, err
		}
	}
	if pr.RequiresPython != "" {
		set, err := parseSpecifiers(pr.RequiresPython)
		if err != nil {
			return nil, fmt.Errorf("requires-python in pyproject.toml: %w", err)
		}
		out = append(out, constraint{set: set, source: fmt.Sprintf("requires-python %q in pyproject.toml", pr.RequiresPython)})
	}
	return out, nil
}

func firstLine(data []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		l := sc.Text()
		if i := strings.IndexByte(l, '#'); i >= 0 {
			l = l[:i]
		}
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

// candidate is a CPython the Debian suite has.
type candidate struct {
	pkg     string // python3.11
	version pyVersion
}

// upstreamVersion turns a Debian version (1:3.11.2-6+deb12u8) into the
// upstream release (3.11.2).
func upstreamVersion(deb string) (pyVersion, error) {
	if _, after, ok := strings.Cut(deb, ":"); ok {
		deb = after
	}
	if i := strings.LastIndexByte(deb, '-'); i >= 0 {
		deb = deb[:i]
	}
	if i := strings.IndexAny(deb, "+~"); i >= 0 {
		deb = deb[:i]
	}
	return parsePyVersion(deb)
}

// choosePython picks the newest candidate that satisfies every
// constraint.
func choosePython(cands []candidate, cons []constraint, suite string) (candidate, error) {
	sort.Slice(cands, func(i, j int) bool { return cands[i].version.cmp(cands[j].version) > 0 })
	for _, c := range cands {
		ok := true
		for _, k := range cons {
			if !k.set.contains(c.version) {
				ok = false
				break
			}
		}
		if ok {
			return c, nil
		}
	}
	var have, want []string
	for _, c := range cands {
		have = append(have, c.version.String())
	}
	for _, k := range cons {
		want = append(want, k.source)
	}
	if len(have) == 0 {
		//lint:ignore ST1005 the message starts with a proper noun
		return candidate{}, fmt.Errorf("Debian %s has no python3.X package", suite)
	}
	//lint:ignore ST1005 the message starts with a proper noun
	return candidate{}, fmt.Errorf("Debian %s provides CPython %s, which does not satisfy %s", suite, strings.Join(have, ", "), strings.Join(want, " and "))
}

// requirementLines returns the meaningful lines of a requirements file.
func requirementLines(data []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if i := strings.Index(l, " #"); i >= 0 {
			l = strings.TrimSpace(l[:i])
		}
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		out = append(out, l)
	}
	return out
}
