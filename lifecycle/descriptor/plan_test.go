package descriptor

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeBuildPlan(t *testing.T) {
	tests := []struct {
		name    string
		api     string
		in      string
		want    BuildPlan
		wantErr string
	}{
		{name: "empty file", api: "0.12", in: "", want: BuildPlan{}},
		{
			name: "top level and or",
			api:  "0.12",
			in: `[[provides]]
name = "go"
[[requires]]
name = "go"
[requires.metadata]
version = "1.23"
build = true
[[or]]
[[or.provides]]
name = "node"
[[or.requires]]
name = "node"
`,
			want: BuildPlan{
				Provides: []Provide{{Name: "go"}},
				Requires: []Require{{Name: "go", Metadata: map[string]any{"version": "1.23", "build": true}}},
				Or:       []PlanSections{{Provides: []Provide{{Name: "node"}}, Requires: []Require{{Name: "node"}}}},
			},
		},
		{name: "top-level version is an error since 0.11", api: "0.11", in: "[[requires]]\nname = \"go\"\nversion = \"1\"\n", wantErr: `top-level "version" key is not allowed`},
		{name: "top-level version in or is an error", api: "0.12", in: "[[or]]\n[[or.requires]]\nname = \"go\"\nversion = \"1\"\n", wantErr: "[[or]] #1"},
		{
			name: "before 0.11 version moves into metadata",
			api:  "0.10",
			in:   "[[requires]]\nname = \"go\"\nversion = \"1.22\"\n[requires.metadata]\nbuild = true\n",
			want: BuildPlan{Requires: []Require{{Name: "go", Metadata: map[string]any{"version": "1.22", "build": true}}}},
		},
		{name: "before 0.11 both versions are an error", api: "0.9", in: "[[requires]]\nname = \"go\"\nversion = \"1\"\n[requires.metadata]\nversion = \"2\"\n", wantErr: "must not both be set"},
		{name: "provide without name", api: "0.12", in: "[[provides]]\n", wantErr: "[[provides]] #1: name is missing"},
		{name: "require without name", api: "0.12", in: "[[requires]]\n[requires.metadata]\nx = 1\n", wantErr: "[[requires]] #1: name is missing"},
		{name: "bad api", api: "", in: "", wantErr: "empty API version"},
		{name: "syntax", api: "0.12", in: "[[provides]]\nname = \n", wantErr: "line 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeBuildPlan("plan.toml", []byte(tc.in), tc.api)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "plan.toml") {
					t.Fatalf("error = %v, want one naming plan.toml and containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildPlanAlternatives(t *testing.T) {
	p := BuildPlan{
		Provides: []Provide{{Name: "a"}},
		Or:       []PlanSections{{Requires: []Require{{Name: "b"}}}, {Provides: []Provide{{Name: "c"}}}},
	}
	want := []PlanSections{
		{Provides: []Provide{{Name: "a"}}},
		{Requires: []Require{{Name: "b"}}},
		{Provides: []Provide{{Name: "c"}}},
	}
	if diff := cmp.Diff(want, p.Alternatives()); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

func TestBuildPlanRoundTrip(t *testing.T) {
	want := BuildPlan{
		Provides: []Provide{{Name: "go"}},
		Requires: []Require{{Name: "go", Metadata: map[string]any{"version": "1.23"}}},
		Or:       []PlanSections{{Requires: []Require{{Name: "x"}}}},
	}
	p := filepath.Join(t.TempDir(), "plan.toml")
	if err := WriteBuildPlan(p, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadBuildPlan(p, "0.12")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

func TestDecodePlan(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Plan
		wantErr string
	}{
		{name: "empty", in: "", want: Plan{}},
		{
			name: "entry",
			in: `[[entries]]
[[entries.providers]]
id = "a"
version = "1"
[[entries.providers]]
id = "ext"
version = "1"
extension = true
[[entries.requires]]
name = "go"
[entries.requires.metadata]
version = "1.23"
[[entries.requires]]
name = "go"
`,
			want: Plan{Entries: []PlanEntry{{
				Providers: []Provider{{ID: "a", Version: "1"}, {ID: "ext", Version: "1", Extension: true}},
				Requires:  []Require{{Name: "go", Metadata: map[string]any{"version": "1.23"}}, {Name: "go"}},
			}}},
		},
		{name: "no providers", in: "[[entries]]\n[[entries.requires]]\nname = \"go\"\n", wantErr: "no providers"},
		{name: "no requires", in: "[[entries]]\n[[entries.providers]]\nid = \"a\"\nversion = \"1\"\n", wantErr: "no requires"},
		{name: "provider without id", in: "[[entries]]\n[[entries.providers]]\nversion = \"1\"\n[[entries.requires]]\nname = \"go\"\n", wantErr: "id is missing"},
		{name: "mixed names", in: "[[entries]]\n[[entries.providers]]\nid = \"a\"\n[[entries.requires]]\nname = \"go\"\n[[entries.requires]]\nname = \"node\"\n", wantErr: `mixes requirements "go" and "node"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodePlan("plan.toml", []byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "plan.toml") {
					t.Fatalf("error = %v, want one naming plan.toml and containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlanRoundTrip(t *testing.T) {
	for _, want := range []Plan{
		{},
		{Entries: []PlanEntry{{Providers: []Provider{{ID: "a/b", Version: "1"}}, Requires: []Require{{Name: "go", Metadata: map[string]any{"k": "v"}}}}}},
	} {
		p := filepath.Join(t.TempDir(), PlanFile)
		if err := WritePlan(p, want); err != nil {
			t.Fatal(err)
		}
		got, err := ReadPlan(p)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("mismatch (-want +got):\n%s", diff)
		}
	}
}

func TestBuildpackPlan(t *testing.T) {
	want := BuildpackPlan{Entries: []Require{{Name: "go", Metadata: map[string]any{"version": "1.23"}}, {Name: "node"}}}
	p := filepath.Join(t.TempDir(), "bpplan.toml")
	if err := WriteBuildpackPlan(p, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadBuildpackPlan(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
	if _, err := DecodeBuildpackPlan("bp.toml", []byte("[[entries]]\n")); err == nil || !strings.Contains(err.Error(), "bp.toml") {
		t.Errorf("entry without name: error = %v, want one naming bp.toml", err)
	}
	if _, err := ReadBuildpackPlan(filepath.Join(t.TempDir(), "missing.toml")); err == nil || !strings.Contains(err.Error(), "missing.toml") {
		t.Errorf("missing file: error = %v, want one naming the file", err)
	}
}
