package detect

import (
	"fmt"

	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// MaxTrials bounds how many combinations of [[or]] alternatives one group
// may try before it is given up.
const MaxTrials = 100000

// passed is a member whose bin/detect passed, with the build plans it
// offered (top level first, then each [[or]]).
type passed struct {
	member Member
	alts   []descriptor.PlanSections
}

// resolution is the outcome of build plan resolution for one group.
type resolution struct {
	kept    []Member        // members left in the group
	dropped []droppedMember // optional members taken out of it
	plan    descriptor.Plan
}

type droppedMember struct {
	member Member
	reason string
}

// resolvePlan runs the build plan trials for a group's passing members
// (buildpack.md §Phase #1 Detection): one potential plan is chosen per
// member, left to right and depth-first (the last member's alternatives
// change fastest), and the first trial that works wins. ok is false when
// every trial failed; reason then explains the first one.
func resolvePlan(members []passed) (res resolution, reason string, ok bool) {
	if len(members) == 0 {
		return resolution{}, "no buildpack passed", false
	}
	choice := make([]int, len(members))
	for trials := 0; ; trials++ {
		if trials >= MaxTrials {
			return resolution{}, fmt.Sprintf("%s (gave up after %d combinations of [[or]] alternatives)", reason, MaxTrials), false
		}
		r, why, good := runTrial(members, choice)
		if good {
			return r, "", true
		}
		if reason == "" {
			reason = why
		}
		// next combination: odometer with the last member fastest
		i := len(members) - 1
		for ; i >= 0; i-- {
			choice[i]++
			if choice[i] < len(members[i].alts) {
				break
			}
			choice[i] = 0
		}
		if i < 0 {
			if trials > 0 {
				reason += fmt.Sprintf(" (and %d other combination(s) of [[or]] alternatives failed)", trials)
			}
			return resolution{}, reason, false
		}
	}
}

// runTrial checks one combination of potential plans. A required member
// that requires what no member before it (or itself) provides, or provides
// what no member after it (or itself) requires, fails the trial; an
// optional one is dropped with its requires and provides, and the check
// starts over without it.
func runTrial(members []passed, choice []int) (resolution, string, bool) {
	active := make([]bool, len(members))
	for i := range active {
		active[i] = true
	}
	var dropped []droppedMember
	for {
		deps, offenders := matchDeps(members, choice, active)
		if len(offenders) == 0 {
			var res resolution
			buildpacks := 0
			for i, m := range members {
				if active[i] {
					res.kept = append(res.kept, m.member)
					if !m.member.Buildpack.IsExtension() {
						buildpacks++
					}
				}
			}
			if buildpacks == 0 {
				return resolution{}, "every buildpack was dropped from the build plan", false
			}
			res.dropped = dropped
			res.plan = deps.plan()
			return res, "", true
		}
		for _, o := range offenders {
			if !members[o.index].member.Optional {
				return resolution{}, o.reason, false
			}
		}
		for _, o := range offenders {
			if active[o.index] {
				active[o.index] = false
				dropped = append(dropped, droppedMember{member: members[o.index].member, reason: o.reason})
			}
		}
	}
}

type offender struct {
	index  int
	reason string
}

// dep collects, for one dependency name, the members that provide it and
// the requirements that use it.
type dep struct {
	name      string
	providers []int // matched providers, in group order
	pending   []int // provides not (yet) followed by a require
	requires  []descriptor.Require
}

type depMap struct {
	members []passed
	order   []*dep // by first appearance
	byName  map[string]*dep
}

func (m *depMap) get(name string) *dep {
	d, ok := m.byName[name]
	if !ok {
		d = &dep{name: name}
		m.byName[name] = d
		m.order = append(m.order, d)
	}
	return d
}

func matchDeps(members []passed, choice []int, active []bool) (*depMap, []offender) {
	m := &depMap{members: members, byName: map[string]*dep{}}
	var offenders []offender
	for i, p := range members {
		if !active[i] {
			continue
		}
		s := p.alts[choice[i]]
		for _, pr := range s.Provides {
			d := m.get(pr.Name)
			if !containsInt(d.pending, i) {
				d.pending = append(d.pending, i)
			}
		}
		for _, rq := range s.Requires {
			d := m.get(rq.Name)
			for _, j := range d.pending {
				if !containsInt(d.providers, j) {
					d.providers = append(d.providers, j)
				}
			}
			d.pending = nil
			if len(d.providers) == 0 {
				offenders = append(offenders, offender{i, fmt.Sprintf("%s requires %q, which no buildpack before it provides", p.member.Ref(), rq.Name)})
				continue
			}
			d.requires = append(d.requires, rq)
		}
	}
	for _, d := range m.order {
		for _, i := range d.pending {
			offenders = append(offenders, offender{i, fmt.Sprintf("%s provides %q, which no buildpack after it requires", members[i].member.Ref(), d.name)})
		}
	}
	return m, offenders
}

// plan returns plan.toml's entries: every dependency with a provider, in
// order of first appearance, its providers in group order.
func (m *depMap) plan() descriptor.Plan {
	var p descriptor.Plan
	for _, d := range m.order {
		if len(d.providers) == 0 || len(d.requires) == 0 {
			continue
		}
		e := descriptor.PlanEntry{Requires: d.requires}
		for _, i := range d.providers {
			bp := m.members[i].member.Buildpack
			e.Providers = append(e.Providers, descriptor.Provider{ID: bp.Buildpack.ID, Version: bp.Buildpack.Version, Extension: bp.IsExtension()})
		}
		p.Entries = append(p.Entries, e)
	}
	return p
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
