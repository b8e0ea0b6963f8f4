package detect

import (
	"fmt"
	"strings"

	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// MaxGroups bounds how many candidate groups an order may expand into;
// nested composite orders multiply, and a runaway builder should fail
// clearly instead of exhausting memory.
const MaxGroups = 10000

// Member is one component buildpack of a candidate group.
type Member struct {
	Buildpack *descriptor.Buildpack
	// Optional members may fail detection (or be dropped by build plan
	// resolution) without failing the group.
	Optional bool
	// ExecEnv is the exec-env of the order entry that brought the
	// buildpack in (it goes to group.toml).
	ExecEnv descriptor.ExecEnvs
}

// Ref returns "id@version".
func (m Member) Ref() string { return m.Buildpack.Ref() }

// Finder looks buildpacks up by id and version; *descriptor.Lookup is one.
type Finder interface {
	Find(id, version string) (*descriptor.Buildpack, error)
}

// Expand resolves order into the candidate groups of component buildpacks
// to try, in priority order (buildpack.md §Order Resolution):
//
//   - a composite buildpack is replaced by each group of its own order in
//     turn, depth-first and left to right, so [E, O, F] with O = [[A, B],
//     [C, D]] gives [E, A, B, F] then [E, C, D, F], and [O, P] varies O
//     slowest;
//   - an optional composite is followed by one more candidate without it,
//     and everything inside it becomes optional;
//   - optional component buildpacks stay in the group, marked Optional
//     (failing detection only drops them);
//   - when execEnv is not empty, buildpacks whose buildpack.toml or order
//     entry exec-env does not include it are left out (composites with
//     everything inside them);
//   - a buildpack already in a group is not added again (it stays where it
//     first appeared, optional only if every occurrence is);
//   - groups left empty, and repeats of an earlier group, are dropped.
//
// Composite buildpacks that include themselves are an error, as is an
// expansion beyond MaxGroups.
func Expand(order descriptor.Order, find Finder, execEnv string) ([][]Member, error) {
	return ExpandWithExtensions(order, nil, find, nil, execEnv)
}

// ExpandWithExtensions is Expand with an order of image extensions
// (order.toml's [[order-extensions]], found through findExt) put before
// every group of order, as buildpack.md §Order Resolution says: the
// extensions' order acts as an optional composite in front of each group,
// so a group G becomes E1+G, E2+G, ... for each extensions group Ei, then
// G alone, with every extension optional.
func ExpandWithExtensions(order, extensions descriptor.Order, find, findExt Finder, execEnv string) ([][]Member, error) {
	x := &expander{find: find, execEnv: execEnv}
	exts := [][]Member{{}}
	if len(extensions) > 0 {
		var err error
		if exts, err = x.extensionAlternatives(extensions, findExt); err != nil {
			return nil, err
		}
	}
	var raw [][]Member
	for _, g := range order {
		seqs, err := x.group(g.Group, false)
		if err != nil {
			return nil, err
		}
		if len(raw)+len(exts)*len(seqs) > MaxGroups {
			return nil, fmt.Errorf("expanding order: more than %d candidate groups", MaxGroups)
		}
		for _, e := range exts {
			for _, s := range seqs {
				raw = append(raw, append(append([]Member{}, e...), s...))
			}
		}
	}
	var out [][]Member
	seen := map[string]bool{}
	for _, g := range raw {
		g = dedupe(g)
		if len(g) == 0 {
			continue
		}
		key := groupKey(g)
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, g)
	}
	return out, nil
}

type expander struct {
	find    Finder
	execEnv string
	stack   []string // composites being expanded, to catch cycles
}

func (x *expander) order(o descriptor.Order, optional bool) ([][]Member, error) {
	var out [][]Member
	for _, g := range o {
		seqs, err := x.group(g.Group, optional)
		if err != nil {
			return nil, err
		}
		out = append(out, seqs...)
		if len(out) > MaxGroups {
			return nil, fmt.Errorf("expanding order: more than %d candidate groups", MaxGroups)
		}
	}
	return out, nil
}

// group returns every sequence an order group expands into: the product of
// its entries' alternatives, the first entry varying slowest.
func (x *expander) group(entries []descriptor.GroupEntry, optional bool) ([][]Member, error) {
	result := [][]Member{{}}
	for _, e := range entries {
		alts, err := x.entry(e, optional)
		if err != nil {
			return nil, err
		}
		if len(result)*len(alts) > MaxGroups {
			return nil, fmt.Errorf("expanding order: more than %d candidate groups", MaxGroups)
		}
		next := make([][]Member, 0, len(result)*len(alts))
		for _, r := range result {
			for _, a := range alts {
				seq := make([]Member, 0, len(r)+len(a))
				seq = append(append(seq, r...), a...)
				next = append(next, seq)
			}
		}
		result = next
	}
	return result, nil
}

// entry returns the alternatives one order entry stands for.
func (x *expander) entry(e descriptor.GroupEntry, inheritedOptional bool) ([][]Member, error) {
	bp, err := x.find.Find(e.ID, e.Version)
	if err != nil {
		return nil, err
	}
	optional := e.Optional || inheritedOptional
	if x.execEnv != "" && (!e.ExecEnv.Supports(x.execEnv) || !bp.Buildpack.ExecEnv.Supports(x.execEnv)) {
		return [][]Member{{}}, nil // skipped: not for this execution environment
	}
	if !bp.IsComposite() {
		return [][]Member{{{Buildpack: bp, Optional: optional, ExecEnv: e.ExecEnv}}}, nil
	}
	ref := bp.Ref()
	for _, s := range x.stack {
		if s == ref {
			return nil, fmt.Errorf("expanding order: composite buildpack %s includes itself (%s -> %s)", ref, strings.Join(x.stack, " -> "), ref)
		}
	}
	x.stack = append(x.stack, ref)
	alts, err := x.order(bp.Order, optional)
	x.stack = x.stack[:len(x.stack)-1]
	if err != nil {
		return nil, err
	}
	if optional {
		alts = append(alts, []Member{})
	}
	return alts, nil
}

// dedupe keeps the first occurrence of every buildpack id (and of every
// extension id).
func dedupe(g []Member) []Member {
	out := make([]Member, 0, len(g))
	at := map[string]int{}
	for _, m := range g {
		id := m.Buildpack.Kind.String() + " " + m.Buildpack.Buildpack.ID
		if i, ok := at[id]; ok {
			out[i].Optional = out[i].Optional && m.Optional
			continue
		}
		at[id] = len(out)
		out = append(out, m)
	}
	return out
}

func groupKey(g []Member) string {
	var b strings.Builder
	for _, m := range g {
		if m.Buildpack.IsExtension() {
			b.WriteString("extension ")
		}
		b.WriteString(m.Ref())
		if m.Optional {
			b.WriteString("?")
		}
		b.WriteString("\x00")
	}
	return b.String()
}

// extensionAlternatives are the member sequences the extensions order
// stands for in front of a group: each of its groups, every extension
// optional, then none at all.
func (x *expander) extensionAlternatives(extensions descriptor.Order, findExt Finder) ([][]Member, error) {
	if findExt == nil {
		return nil, fmt.Errorf("expanding order: [[order-extensions]] given without a way to find extensions")
	}
	var alts [][]Member
	for gi, g := range extensions {
		var seq []Member
		for ei, e := range g.Group {
			ext, err := findExt.Find(e.ID, e.Version)
			if err != nil {
				return nil, err
			}
			if !ext.IsExtension() {
				return nil, fmt.Errorf("expanding order: [[order-extensions]] #%d, entry #%d: %s is not an image extension", gi+1, ei+1, ext.Ref())
			}
			if x.execEnv != "" && (!e.ExecEnv.Supports(x.execEnv) || !ext.Buildpack.ExecEnv.Supports(x.execEnv)) {
				continue
			}
			seq = append(seq, Member{Buildpack: ext, Optional: true, ExecEnv: e.ExecEnv})
		}
		alts = append(alts, seq)
	}
	return append(alts, []Member{}), nil
}
