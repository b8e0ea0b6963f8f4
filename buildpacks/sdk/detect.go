package sdk

import "fmt"

// DetectContext is what bin/detect receives (buildpack.md, §Detection).
type DetectContext struct {
	// AppDir is the app source, bin/detect's working directory.
	AppDir string
	// PlatformDir is CNB_PLATFORM_DIR.
	PlatformDir string
	// PlanPath is CNB_BUILD_PLAN_PATH, where the build plan goes.
	PlanPath string
	// ExecEnv is CNB_EXEC_ENV ("production" when unset).
	ExecEnv   string
	Buildpack Info
	Target    Target
	// Getenv reads the buildpack's environment (the user's platform
	// variables included); os.Getenv in a real run.
	Getenv func(string) string
	Log    *Logger
}

// Provide is a [[provides]] entry of a build plan.
type Provide struct {
	Name string `toml:"name"`
}

// Require is a [[requires]] entry of a build plan. Since Buildpack API
// 0.11 a version belongs in Metadata, never at the top level.
type Require struct {
	Name     string         `toml:"name"`
	Metadata map[string]any `toml:"metadata,omitempty"`
}

// BuildPlan is what bin/detect writes to CNB_BUILD_PLAN_PATH: what the
// buildpack provides and requires, with alternatives in Or tried after
// the main pair.
type BuildPlan struct {
	Provides []Provide   `toml:"provides,omitempty"`
	Requires []Require   `toml:"requires,omitempty"`
	Or       []BuildPlan `toml:"or,omitempty"`
}

// PlanFor returns the common plan of a buildpack that provides and
// requires the one dependency name, with metadata on the requirement.
func PlanFor(name string, metadata map[string]any) BuildPlan {
	return BuildPlan{
		Provides: []Provide{{Name: name}},
		Requires: []Require{{Name: name, Metadata: metadata}},
	}
}

// Empty reports whether the plan has no entries at all.
func (p BuildPlan) Empty() bool {
	return len(p.Provides) == 0 && len(p.Requires) == 0 && len(p.Or) == 0
}

func (p BuildPlan) validate() error {
	for _, pr := range p.Provides {
		if pr.Name == "" {
			return fmt.Errorf("a [[provides]] entry has no name")
		}
	}
	for _, r := range p.Requires {
		if r.Name == "" {
			return fmt.Errorf("a [[requires]] entry has no name")
		}
	}
	for _, o := range p.Or {
		if len(o.Or) > 0 {
			return fmt.Errorf("[[or]] alternatives cannot nest")
		}
		if err := o.validate(); err != nil {
			return err
		}
	}
	return nil
}

// WritePlan writes p as TOML to path. An empty plan leaves the file as it
// is (the lifecycle creates it empty).
func WritePlan(path string, p BuildPlan) error {
	if err := p.validate(); err != nil {
		return fmt.Errorf("build plan for %s: %w", path, err)
	}
	if p.Empty() {
		return nil
	}
	if err := writeTOMLFile(path, p); err != nil {
		return fmt.Errorf("build plan: %w", err)
	}
	return nil
}
