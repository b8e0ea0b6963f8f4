package sdk

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/BurntSushi/toml"
)

// PlanEntry is one [[entries]] of the buildpack plan bin/build receives:
// a requirement from the build plan that this buildpack is the provider
// of.
type PlanEntry struct {
	Name     string         `toml:"name"`
	Metadata map[string]any `toml:"metadata"`
}

// Plan is the buildpack plan (CNB_BP_PLAN_PATH).
type Plan struct {
	Entries []PlanEntry `toml:"entries"`
}

// Has reports whether the plan holds an entry called name.
func (p Plan) Has(name string) bool {
	for _, e := range p.Entries {
		if e.Name == name {
			return true
		}
	}
	return false
}

// Metadata returns the string values of key in the metadata of every entry
// called name, in order; non-string values are skipped.
func (p Plan) Metadata(name, key string) []string {
	var out []string
	for _, e := range p.Entries {
		if e.Name != name {
			continue
		}
		if s, ok := e.Metadata[key].(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// ReadPlan reads a buildpack plan. A missing file is an empty plan.
func ReadPlan(path string) (Plan, error) {
	var p Plan
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("reading buildpack plan %s: %w", path, err)
	}
	if p, err = DecodePlan(data); err != nil {
		return p, fmt.Errorf("parsing buildpack plan %s: %w", path, err)
	}
	return p, nil
}

// DecodePlan decodes the TOML of a buildpack plan. Every entry must have a
// name.
func DecodePlan(data []byte) (Plan, error) {
	var p Plan
	if err := toml.Unmarshal(data, &p); err != nil {
		return Plan{}, err
	}
	for i, e := range p.Entries {
		if e.Name == "" {
			return Plan{}, fmt.Errorf("[[entries]] #%d has no name", i+1)
		}
	}
	return p, nil
}
