package detect

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// groupRefs renders candidate groups compactly: "a b? c" per group.
func groupRefs(groups [][]Member) []string {
	var out []string
	for _, g := range groups {
		var parts []string
		for _, m := range g {
			s := m.Buildpack.Buildpack.ID
			if m.Optional {
				s += "?"
			}
			parts = append(parts, s)
		}
		out = append(out, strings.Join(parts, " "))
	}
	return out
}

func TestExpand(t *testing.T) {
	component := func(id string, extra ...string) bpSpec {
		return bpSpec{id: id, descriptor: strings.Join(extra, "\n")}
	}
	composite := func(id, order string) bpSpec { return bpSpec{id: id, order: orderTOML(order)} }
	comps := []bpSpec{
		component("a"), component("b"), component("c"), component("d"),
		component("e"), component("f"), component("g"), component("h"),
		component("t", `exec-env = ["test"]`),
		composite("o", "a b | c d"),
		composite("p", "e f | g h"),
		composite("q", "a? b"),
		composite("nest", "o | h"),
		composite("dup", "a c"),
		composite("self", "a self"),
		composite("loop1", "loop2"),
		composite("loop2", "loop1"),
	}
	tests := []struct {
		name    string
		order   string
		execEnv string
		want    []string
		wantErr string
	}{
		{name: "flat order", order: "a b | c", want: []string{"a b", "c"}},
		{name: "composite in the middle", order: "e o f", want: []string{"e a b f", "e c d f"}},
		{name: "two composites vary the first slowest", order: "o p", want: []string{"a b e f", "a b g h", "c d e f", "c d g h"}},
		{name: "optional component stays marked", order: "a? b", want: []string{"a? b"}},
		{name: "optional composite adds a group without it", order: "o? f", want: []string{"a? b? f", "c? d? f", "f"}},
		{name: "optional inside composite", order: "q", want: []string{"a? b"}},
		{name: "optional propagates through nesting", order: "nest? e", want: []string{"a? b? e", "c? d? e", "e", "h? e"}}, // o inherits optional, so its copy without it comes right after it
		{name: "nested composite", order: "nest", want: []string{"a b", "c d", "h"}},
		{name: "a buildpack appears once per group", order: "a dup", want: []string{"a c"}},
		{name: "required occurrence wins over optional", order: "a? dup", want: []string{"a c"}},
		{name: "repeated groups are tried once", order: "a | a | b", want: []string{"a", "b"}},
		{name: "exec-env excludes", order: "a t | t", execEnv: "production", want: []string{"a"}},
		{name: "exec-env includes", order: "a t", execEnv: "test", want: []string{"a t"}},
		{name: "composite including itself", order: "self", wantErr: "self@1.0.0 includes itself"},
		{name: "composite cycle", order: "loop1", wantErr: "includes itself"},
		{name: "missing buildpack", order: "a zzz", wantErr: "zzz@1.0.0"},
	}
	w := newWorld(t, comps...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Expand(parseOrder(tc.order), descriptor.NewLookup(w.root), tc.execEnv)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, groupRefs(got)); diff != "" {
				t.Errorf("groups mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExpandOrderEntryExecEnv(t *testing.T) {
	w := newWorld(t, bpSpec{id: "a"}, bpSpec{id: "b"})
	order := descriptor.Order{{Group: []descriptor.GroupEntry{
		{ID: "a", Version: "1.0.0"},
		{ID: "b", Version: "1.0.0", ExecEnv: descriptor.ExecEnvs{"development"}},
	}}}
	for env, want := range map[string][]string{"production": {"a"}, "development": {"a b"}} {
		got, err := Expand(order, descriptor.NewLookup(w.root), env)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, groupRefs(got)); diff != "" {
			t.Errorf("exec env %s: mismatch (-want +got):\n%s", env, diff)
		}
	}
}

func TestExpandLimit(t *testing.T) {
	// Each composite doubles the candidates: 2^14 > MaxGroups.
	var specs []bpSpec
	var order []string
	for i := 0; i < 14; i++ {
		x, y, c := string(rune('a'+i))+"x", string(rune('a'+i))+"y", string(rune('a'+i))+"c"
		specs = append(specs, bpSpec{id: x}, bpSpec{id: y}, bpSpec{id: c, order: orderTOML(x + " | " + y)})
		order = append(order, c)
	}
	w := newWorld(t, specs...)
	_, err := Expand(parseOrder(strings.Join(order, " ")), descriptor.NewLookup(w.root), "")
	if err == nil || !strings.Contains(err.Error(), "candidate groups") {
		t.Fatalf("error = %v, want the MaxGroups limit", err)
	}
}
