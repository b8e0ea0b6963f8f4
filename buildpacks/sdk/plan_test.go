package sdk

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWritePlan(t *testing.T) {
	tests := []struct {
		name    string
		plan    BuildPlan
		want    string
		wantErr string
	}{
		{"empty writes nothing", BuildPlan{}, "", ""},
		{"provides and requires", PlanFor("node", map[string]any{"version": "20.x", "version-source": "package.json"}),
			"[[provides]]\n  name = \"node\"\n\n[[requires]]\n  name = \"node\"\n  [requires.metadata]\n    version = \"20.x\"\n    version-source = \"package.json\"\n", ""},
		{"or alternatives", BuildPlan{Provides: []Provide{{Name: "a"}}, Or: []BuildPlan{{Requires: []Require{{Name: "b"}}}}},
			"[[provides]]\n  name = \"a\"\n\n[[or]]\n\n  [[or.requires]]\n    name = \"b\"\n", ""},
		{"nameless", BuildPlan{Requires: []Require{{}}}, "", "no name"},
		{"nested or", BuildPlan{Or: []BuildPlan{{Or: []BuildPlan{{}}}}}, "", "cannot nest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "plan.toml")
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			err := WritePlan(p, tt.plan)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(p)
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodePlan(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Plan
		wantErr bool
	}{
		{"empty", "", Plan{}, false},
		{"entries", "[[entries]]\nname = \"go\"\n[entries.metadata]\nversion = \"1.22\"\n\n[[entries]]\nname = \"go\"\n",
			Plan{Entries: []PlanEntry{{Name: "go", Metadata: map[string]any{"version": "1.22"}}, {Name: "go"}}}, false},
		{"nameless", "[[entries]]\n[entries.metadata]\nx = 1\n", Plan{}, true},
		{"garbage", "[[entries]\n", Plan{}, true},
	}
	for _, tt := range tests {
		got, err := DecodePlan([]byte(tt.in))
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: error %v, want error %v", tt.name, err, tt.wantErr)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
	p, _ := DecodePlan([]byte("[[entries]]\nname = \"go\"\n[entries.metadata]\nversion = \"1.22\"\n"))
	if !p.Has("go") || p.Has("node") {
		t.Errorf("Has is wrong for %+v", p)
	}
	if diff := cmp.Diff([]string{"1.22"}, p.Metadata("go", "version")); diff != "" {
		t.Errorf("Metadata (-want +got):\n%s", diff)
	}
}

func TestReadPlanMissingIsEmpty(t *testing.T) {
	p, err := ReadPlan(filepath.Join(t.TempDir(), "none.toml"))
	if err != nil || len(p.Entries) != 0 {
		t.Errorf("ReadPlan of a missing file = %+v, %v", p, err)
	}
}

func FuzzDecodePlan(f *testing.F) {
	f.Add([]byte("[[entries]]\nname = \"go\"\n[entries.metadata]\nversion = \"1.22\"\n"))
	f.Add([]byte("entries = 3"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodePlan(data)
		if err != nil {
			return
		}
		for _, e := range p.Entries {
			if e.Name == "" {
				t.Fatalf("entry without name accepted: %q", data)
			}
		}
	})
}
