package dpkg

import (
	"fmt"
	"sort"
	"strings"
)

// Package is one installed Debian package.
type Package struct {
	Name         string `json:"name"`
	Version      string `json:"version"`
	Architecture string `json:"architecture"`
}

// String gives the package in apt's "name:arch=version" form.
func (p Package) String() string {
	return p.Name + ":" + p.Architecture + "=" + p.Version
}

// ParseRef parses the "name:arch=version" form written by String.
func ParseRef(s string) (Package, error) {
	nameArch, version, ok := strings.Cut(s, "=")
	if !ok {
		return Package{}, fmt.Errorf("package %q: want name:arch=version", s)
	}
	name, arch, ok := strings.Cut(nameArch, ":")
	if !ok || name == "" || arch == "" || version == "" {
		return Package{}, fmt.Errorf("package %q: want name:arch=version", s)
	}
	return Package{Name: name, Version: version, Architecture: arch}, nil
}

// ParseStatus returns the installed packages listed in the content of a
// dpkg status file, sorted by name and architecture. Packages that are
// only half installed, removed or merely known are left out.
func ParseStatus(data []byte) ([]Package, error) {
	var (
		out    []Package
		fields = map[string]string{}
		start  = 0
		last   = ""
	)
	flush := func() error {
		if len(fields) == 0 {
			return nil
		}
		defer clear(fields)
		name := fields["package"]
		if name == "" {
			return fmt.Errorf("/var/lib/dpkg/status line %d: paragraph without a Package field", start)
		}
		status := strings.Fields(fields["status"])
		if len(status) != 3 || status[2] != "installed" {
			return nil
		}
		if fields["version"] == "" || fields["architecture"] == "" {
			return fmt.Errorf("/var/lib/dpkg/status line %d: installed package %s lacks Version or Architecture", start, name)
		}
		out = append(out, Package{Name: name, Version: fields["version"], Architecture: fields["architecture"]})
		return nil
	}
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		n := i + 1
		switch {
		case strings.TrimSpace(line) == "":
			if err := flush(); err != nil {
				return nil, err
			}
			last = ""
		case line[0] == ' ' || line[0] == '\t':
			if last == "" {
				return nil, fmt.Errorf("/var/lib/dpkg/status line %d: continuation line outside a field", n)
			}
		default:
			key, value, ok := strings.Cut(line, ":")
			if !ok || key == "" {
				return nil, fmt.Errorf("/var/lib/dpkg/status line %d: want \"Field: value\", got %q", n, line)
			}
			if len(fields) == 0 {
				start = n
			}
			last = strings.ToLower(key)
			fields[last] = strings.TrimSpace(value)
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Architecture < out[j].Architecture
	})
	return out, nil
}
