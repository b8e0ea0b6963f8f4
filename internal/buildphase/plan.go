package buildphase

import (
	"fmt"

	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/launch"
)

// planSplitter hands each plan.toml entry to its first provider, and on
// to the next provider each time the current one lists it as unmet.
type planSplitter struct {
	entries []*pendingEntry
}

type pendingEntry struct {
	name      string
	providers []string // buildpack IDs, group order; extensions left out
	next      int      // index of the provider that gets the entry
	requires  []descriptor.Require
}

func newPlanSplitter(p descriptor.Plan) *planSplitter {
	s := &planSplitter{}
	for _, e := range p.Entries {
		if len(e.Requires) == 0 {
			continue
		}
		pe := &pendingEntry{name: e.Requires[0].Name, requires: e.Requires}
		for _, pr := range e.Providers {
			if !pr.Extension {
				pe.providers = append(pe.providers, pr.ID)
			}
		}
		if len(pe.providers) > 0 {
			s.entries = append(s.entries, pe)
		}
	}
	return s
}

// assignment is what one buildpack received.
type assignment struct {
	plan    descriptor.BuildpackPlan
	entries []*pendingEntry
}

// take returns the buildpack plan of buildpack id: every requirement of
// every entry whose current provider it is, in plan order.
func (s *planSplitter) take(id string) assignment {
	a := assignment{plan: descriptor.BuildpackPlan{Entries: []descriptor.Require{}}}
	for _, e := range s.entries {
		if e.next < len(e.providers) && e.providers[e.next] == id {
			a.entries = append(a.entries, e)
			a.plan.Entries = append(a.plan.Entries, e.requires...)
		}
	}
	return a
}

// settle records the outcome of a buildpack's build: the entries it left
// unmet move on to their next provider (or are dropped when there is
// none); the others are met and go to nobody else. An unmet name that is
// not in the buildpack's plan is an error naming buildTOML.
func (s *planSplitter) settle(a assignment, unmet []launch.Unmet, buildTOML string) error {
	names := map[string]bool{}
	for _, u := range unmet {
		names[u.Name] = true
	}
	inPlan := map[string]bool{}
	for _, e := range a.entries {
		inPlan[e.name] = true
		if names[e.name] {
			e.next++
		} else {
			e.next = len(e.providers) // met: nobody else gets it
		}
	}
	for _, u := range unmet {
		if !inPlan[u.Name] {
			return fmt.Errorf("%s: unmet entry %q is not in the buildpack plan", buildTOML, u.Name)
		}
	}
	return nil
}
