package descriptor

import (
	"fmt"
)

// PlanFile is the default file name of the platform's resolved plan.
const PlanFile = "plan.toml"

// Provide is a [[provides]] entry of a build plan.
type Provide struct {
	Name string `toml:"name"`
}

// Require is a [[requires]] entry of a build plan; the same shape is an
// [[entries]] item of a buildpack plan.
type Require struct {
	Name     string         `toml:"name"`
	Metadata map[string]any `toml:"metadata,omitempty"`
}

// PlanSections is one potential build plan: a provides/requires pairing.
type PlanSections struct {
	Provides []Provide `toml:"provides,omitempty"`
	Requires []Require `toml:"requires,omitempty"`
}

// BuildPlan is what a bin/detect writes to CNB_BUILD_PLAN_PATH: a top-level
// provides/requires pairing plus [[or]] alternatives.
type BuildPlan struct {
	Provides []Provide      `toml:"provides,omitempty"`
	Requires []Require      `toml:"requires,omitempty"`
	Or       []PlanSections `toml:"or,omitempty"`
}

// Alternatives returns the potential build plans in the order they are to
// be tried: the top-level pairing first, then each [[or]] entry.
func (p BuildPlan) Alternatives() []PlanSections {
	out := make([]PlanSections, 0, 1+len(p.Or))
	out = append(out, PlanSections{Provides: p.Provides, Requires: p.Requires})
	return append(out, p.Or...)
}

type rawRequire struct {
	Name     string         `toml:"name"`
	Version  any            `toml:"version"`
	Metadata map[string]any `toml:"metadata"`
}

type rawSections struct {
	Provides []Provide    `toml:"provides"`
	Requires []rawRequire `toml:"requires"`
}

type rawBuildPlan struct {
	Provides []Provide     `toml:"provides"`
	Requires []rawRequire  `toml:"requires"`
	Or       []rawSections `toml:"or"`
}

// api0_11 is the first Buildpack API without the requires.version key.
var api0_11 = API{0, 11}

// DecodeBuildPlan decodes the build plan a buildpack implementing
// Buildpack API api wrote. An empty file is an empty plan. Every provides
// and requires entry needs a name.
//
// A top-level "version" key in a requires entry (top level or inside
// [[or]]) is an error from Buildpack API 0.11 on. Before 0.11 it was
// deprecated: it is an error only together with metadata.version, and
// otherwise moves into metadata.version, so the result never carries it.
func DecodeBuildPlan(name string, data []byte, api string) (BuildPlan, error) {
	a, err := ParseAPI(api)
	if err != nil {
		return BuildPlan{}, fmt.Errorf("decoding %s: buildpack %w", name, err)
	}
	var raw rawBuildPlan
	if _, err := decodeTOML(name, data, &raw); err != nil {
		return BuildPlan{}, err
	}
	top, err := convertSections(rawSections{Provides: raw.Provides, Requires: raw.Requires}, a)
	if err != nil {
		return BuildPlan{}, fmt.Errorf("invalid %s: %w", name, err)
	}
	plan := BuildPlan{Provides: top.Provides, Requires: top.Requires}
	for i, alt := range raw.Or {
		s, err := convertSections(alt, a)
		if err != nil {
			return BuildPlan{}, fmt.Errorf("invalid %s: [[or]] #%d: %w", name, i+1, err)
		}
		plan.Or = append(plan.Or, s)
	}
	return plan, nil
}

func convertSections(raw rawSections, a API) (PlanSections, error) {
	var s PlanSections
	for i, p := range raw.Provides {
		if p.Name == "" {
			return s, fmt.Errorf("[[provides]] #%d: name is missing", i+1)
		}
	}
	s.Provides = raw.Provides
	for i, r := range raw.Requires {
		if r.Name == "" {
			return s, fmt.Errorf("[[requires]] #%d: name is missing", i+1)
		}
		req := Require{Name: r.Name, Metadata: r.Metadata}
		if r.Version != nil {
			if a.AtLeast(api0_11) {
				return s, fmt.Errorf("[[requires]] %q: a top-level \"version\" key is not allowed since Buildpack API 0.11; use metadata.version", r.Name)
			}
			if _, dup := r.Metadata["version"]; dup {
				return s, fmt.Errorf("[[requires]] %q: \"version\" and \"metadata.version\" must not both be set", r.Name)
			}
			md := make(map[string]any, len(r.Metadata)+1)
			for k, v := range r.Metadata {
				md[k] = v
			}
			md["version"] = r.Version
			req.Metadata = md
		}
		s.Requires = append(s.Requires, req)
	}
	return s, nil
}

// ReadBuildPlan reads the build plan at path written by a buildpack
// implementing Buildpack API api (see DecodeBuildPlan).
func ReadBuildPlan(path, api string) (BuildPlan, error) {
	data, err := readFile(path)
	if err != nil {
		return BuildPlan{}, err
	}
	return DecodeBuildPlan(path, data, api)
}

// WriteBuildPlan writes p as a build plan TOML (used by tests and
// buildpack SDKs).
func WriteBuildPlan(path string, p BuildPlan) error {
	return WriteTOMLFile(path, p)
}

// Plan is the platform's plan.toml: the resolved build plan of the
// detected group.
type Plan struct {
	Entries []PlanEntry `toml:"entries"`
}

// PlanEntry is one dependency: the buildpacks providing it, in group
// order (the first one gets it in its buildpack plan), and every
// requirement with that name, in group order.
type PlanEntry struct {
	Providers []Provider `toml:"providers"`
	Requires  []Require  `toml:"requires"`
}

// Provider identifies a buildpack (or image extension) in plan.toml.
type Provider struct {
	ID        string `toml:"id"`
	Version   string `toml:"version"`
	Extension bool   `toml:"extension,omitempty"`
}

// DecodePlan decodes and validates the content of a plan.toml: every entry
// has at least one provider and one requirement, and all its requirements
// share one name.
func DecodePlan(name string, data []byte) (Plan, error) {
	var p Plan
	if _, err := decodeTOML(name, data, &p); err != nil {
		return Plan{}, err
	}
	for i, e := range p.Entries {
		if len(e.Providers) == 0 {
			return Plan{}, fmt.Errorf("invalid %s: [[entries]] #%d: no providers", name, i+1)
		}
		if len(e.Requires) == 0 {
			return Plan{}, fmt.Errorf("invalid %s: [[entries]] #%d: no requires", name, i+1)
		}
		for j, pr := range e.Providers {
			if pr.ID == "" {
				return Plan{}, fmt.Errorf("invalid %s: [[entries]] #%d, provider #%d: id is missing", name, i+1, j+1)
			}
		}
		for _, r := range e.Requires[1:] {
			if r.Name != e.Requires[0].Name {
				return Plan{}, fmt.Errorf("invalid %s: [[entries]] #%d mixes requirements %q and %q", name, i+1, e.Requires[0].Name, r.Name)
			}
		}
	}
	return p, nil
}

// ReadPlan reads and validates a plan.toml.
func ReadPlan(path string) (Plan, error) {
	data, err := readFile(path)
	if err != nil {
		return Plan{}, err
	}
	return DecodePlan(path, data)
}

// WritePlan writes p as a plan.toml at path.
func WritePlan(path string, p Plan) error {
	return WriteTOMLFile(path, p)
}

// BuildpackPlan is the file a bin/build reads at CNB_BP_PLAN_PATH: the
// plan entries it is expected to provide.
type BuildpackPlan struct {
	Entries []Require `toml:"entries"`
}

// DecodeBuildpackPlan decodes the content of a buildpack plan; every entry
// needs a name.
func DecodeBuildpackPlan(name string, data []byte) (BuildpackPlan, error) {
	var p BuildpackPlan
	if _, err := decodeTOML(name, data, &p); err != nil {
		return BuildpackPlan{}, err
	}
	for i, e := range p.Entries {
		if e.Name == "" {
			return BuildpackPlan{}, fmt.Errorf("invalid %s: [[entries]] #%d: name is missing", name, i+1)
		}
	}
	return p, nil
}

// ReadBuildpackPlan reads and validates a buildpack plan.
func ReadBuildpackPlan(path string) (BuildpackPlan, error) {
	data, err := readFile(path)
	if err != nil {
		return BuildpackPlan{}, err
	}
	return DecodeBuildpackPlan(path, data)
}

// WriteBuildpackPlan writes p as a buildpack plan at path.
func WriteBuildpackPlan(path string, p BuildpackPlan) error {
	return WriteTOMLFile(path, p)
}
