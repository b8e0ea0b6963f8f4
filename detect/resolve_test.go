package detect

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// planMember builds a passing member from a compact id ("a" or "a?") and
// the build plan TOML its bin/detect would write.
func planMember(t *testing.T, id, planTOML string) passed {
	t.Helper()
	optional := strings.HasSuffix(id, "?")
	id = strings.TrimSuffix(id, "?")
	plan, err := descriptor.DecodeBuildPlan(id+"/plan.toml", []byte(planTOML), "0.12")
	if err != nil {
		t.Fatal(err)
	}
	bp := &descriptor.Buildpack{API: "0.12", Buildpack: descriptor.BuildpackInfo{ID: id, Version: "1"}}
	return passed{member: Member{Buildpack: bp, Optional: optional}, alts: plan.Alternatives()}
}

func prov(ids ...string) []descriptor.Provider {
	var out []descriptor.Provider
	for _, id := range ids {
		out = append(out, descriptor.Provider{ID: id, Version: "1"})
	}
	return out
}

func TestResolvePlan(t *testing.T) {
	type in struct{ id, plan string }
	tests := []struct {
		name        string
		members     []in
		wantKept    []string
		wantDropped []string
		wantPlan    descriptor.Plan
		wantReason  string // when resolution fails
	}{
		{
			name:     "no plans at all",
			members:  []in{{"a", ""}, {"b", ""}},
			wantKept: []string{"a", "b"},
		},
		{
			name:     "provide then require",
			members:  []in{{"a", "[[provides]]\nname = \"go\""}, {"b", "[[requires]]\nname = \"go\"\n[requires.metadata]\nversion = \"1.23\""}},
			wantKept: []string{"a", "b"},
			wantPlan: descriptor.Plan{Entries: []descriptor.PlanEntry{{Providers: prov("a"), Requires: []descriptor.Require{{Name: "go", Metadata: map[string]any{"version": "1.23"}}}}}},
		},
		{
			name:     "a buildpack may provide and require the same dependency",
			members:  []in{{"a", "[[provides]]\nname = \"go\"\n[[requires]]\nname = \"go\""}},
			wantKept: []string{"a"},
			wantPlan: descriptor.Plan{Entries: []descriptor.PlanEntry{{Providers: prov("a"), Requires: []descriptor.Require{{Name: "go"}}}}},
		},
		{
			name:       "required buildpack requires what nothing before provides",
			members:    []in{{"a", "[[requires]]\nname = \"go\""}, {"b", "[[provides]]\nname = \"go\""}},
			wantReason: `a@1 requires "go", which no buildpack before it provides`,
		},
		{
			name:       "required buildpack provides what nothing after requires",
			members:    []in{{"a", "[[provides]]\nname = \"go\""}, {"b", ""}},
			wantReason: `a@1 provides "go", which no buildpack after it requires`,
		},
		{
			name:        "optional provider without a requirer is dropped",
			members:     []in{{"a?", "[[provides]]\nname = \"go\""}, {"b", ""}},
			wantKept:    []string{"b"},
			wantDropped: []string{"a"},
		},
		{
			name:        "optional requirer without a provider is dropped with its provides",
			members:     []in{{"a?", "[[provides]]\nname = \"x\"\n[[requires]]\nname = \"go\""}, {"b", ""}, {"c?", "[[requires]]\nname = \"x\""}},
			wantKept:    []string{"b"},
			wantDropped: []string{"a", "c"},
		},
		{
			name:       "dropping an optional buildpack can fail a required one",
			members:    []in{{"a?", "[[provides]]\nname = \"x\"\n[[requires]]\nname = \"go\""}, {"b", "[[requires]]\nname = \"x\""}},
			wantReason: `b@1 requires "x", which no buildpack before it provides`,
		},
		{
			name:       "every buildpack dropped",
			members:    []in{{"a?", "[[requires]]\nname = \"go\""}},
			wantReason: "every buildpack was dropped from the build plan",
		},
		{
			name: "or alternative of the last buildpack",
			members: []in{
				{"a", "[[provides]]\nname = \"x\""},
				{"b", "[[requires]]\nname = \"y\"\n[[or]]\n[[or.requires]]\nname = \"x\""},
			},
			wantKept: []string{"a", "b"},
			wantPlan: descriptor.Plan{Entries: []descriptor.PlanEntry{{Providers: prov("a"), Requires: []descriptor.Require{{Name: "x"}}}}},
		},
		{
			name: "or alternatives are tried depth first: first buildpack changes last",
			members: []in{
				// a: [provides y] or [provides x]; b: [requires x] or [requires y]
				{"a", "[[provides]]\nname = \"y\"\n[[or]]\n[[or.provides]]\nname = \"x\""},
				{"b", "[[requires]]\nname = \"x\"\n[[or]]\n[[or.requires]]\nname = \"y\""},
			},
			// (a0,b0) y/x fails, (a0,b1) y/y works before (a1,b0) x/x is reached
			wantKept: []string{"a", "b"},
			wantPlan: descriptor.Plan{Entries: []descriptor.PlanEntry{{Providers: prov("a"), Requires: []descriptor.Require{{Name: "y"}}}}},
		},
		{
			name: "combinatorial: the first buildpack must switch",
			members: []in{
				{"a", "[[provides]]\nname = \"y\"\n[[or]]\n[[or.provides]]\nname = \"x\""},
				{"b", "[[requires]]\nname = \"x\""},
			},
			wantKept: []string{"a", "b"},
			wantPlan: descriptor.Plan{Entries: []descriptor.PlanEntry{{Providers: prov("a"), Requires: []descriptor.Require{{Name: "x"}}}}},
		},
		{
			name: "no combination works",
			members: []in{
				{"a", "[[provides]]\nname = \"y\"\n[[or]]\n[[or.provides]]\nname = \"z\""},
				{"b", "[[requires]]\nname = \"x\""},
			},
			wantReason: `b@1 requires "x", which no buildpack before it provides (and 1 other combination(s) of [[or]] alternatives failed)`,
		},
		{
			name: "an or alternative can avoid dropping an optional buildpack",
			members: []in{
				{"a?", "[[requires]]\nname = \"nothing\"\n[[or]]\n[[or.provides]]\nname = \"x\""},
				{"b", "[[requires]]\nname = \"x\""},
			},
			wantKept: []string{"a", "b"},
			wantPlan: descriptor.Plan{Entries: []descriptor.PlanEntry{{Providers: prov("a"), Requires: []descriptor.Require{{Name: "x"}}}}},
		},
		{
			name: "providers listed in group order, first one first",
			members: []in{
				{"a", "[[provides]]\nname = \"go\""},
				{"b", "[[provides]]\nname = \"go\"\n[[requires]]\nname = \"go\"\n[requires.metadata]\nfrom = \"b\""},
				{"c", "[[requires]]\nname = \"go\"\n[requires.metadata]\nfrom = \"c\""},
			},
			wantKept: []string{"a", "b", "c"},
			wantPlan: descriptor.Plan{Entries: []descriptor.PlanEntry{{
				Providers: prov("a", "b"),
				Requires:  []descriptor.Require{{Name: "go", Metadata: map[string]any{"from": "b"}}, {Name: "go", Metadata: map[string]any{"from": "c"}}},
			}}},
		},
		{
			name: "a provider after the last requirer is unmatched",
			members: []in{
				{"a", "[[provides]]\nname = \"go\""},
				{"b", "[[requires]]\nname = \"go\""},
				{"c", "[[provides]]\nname = \"go\""},
			},
			wantReason: `c@1 provides "go", which no buildpack after it requires`,
		},
		{
			name: "entries in order of first appearance",
			members: []in{
				{"a", "[[provides]]\nname = \"node\"\n[[provides]]\nname = \"go\""},
				{"b", "[[requires]]\nname = \"go\"\n[[requires]]\nname = \"node\""},
			},
			wantKept: []string{"a", "b"},
			wantPlan: descriptor.Plan{Entries: []descriptor.PlanEntry{
				{Providers: prov("a"), Requires: []descriptor.Require{{Name: "node"}}},
				{Providers: prov("a"), Requires: []descriptor.Require{{Name: "go"}}},
			}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var members []passed
			for _, m := range tc.members {
				members = append(members, planMember(t, m.id, m.plan))
			}
			res, reason, ok := resolvePlan(members)
			if tc.wantReason != "" {
				if ok {
					t.Fatalf("resolved to %v, want failure %q", res.kept, tc.wantReason)
				}
				if reason != tc.wantReason {
					t.Errorf("reason = %q, want %q", reason, tc.wantReason)
				}
				return
			}
			if !ok {
				t.Fatalf("did not resolve: %s", reason)
			}
			var kept, dropped []string
			for _, m := range res.kept {
				kept = append(kept, m.Buildpack.Buildpack.ID)
			}
			for _, d := range res.dropped {
				dropped = append(dropped, d.member.Buildpack.Buildpack.ID)
			}
			if diff := cmp.Diff(tc.wantKept, kept); diff != "" {
				t.Errorf("kept mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantDropped, dropped); diff != "" {
				t.Errorf("dropped mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantPlan, res.plan); diff != "" {
				t.Errorf("plan mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolvePlanNothingPassed(t *testing.T) {
	if _, reason, ok := resolvePlan(nil); ok || reason != "no buildpack passed" {
		t.Errorf("resolvePlan(nil) = ok %v, %q", ok, reason)
	}
}
