package detect

import (
	"testing"

	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// FuzzResolvePlan feeds build plan resolution arbitrary groups (decoded
// from bytes: per member an optional flag and up to three alternatives of
// provides/requires over four dependency names) and checks the invariants
// of a resolved plan: it never panics, required members are never
// dropped, every plan entry has kept providers and requirements of one
// name, and a failure always comes with a reason.
func FuzzResolvePlan(f *testing.F) {
	f.Add([]byte{0x01, 0x10, 0x02, 0x20})
	f.Add([]byte{0x81, 0x11, 0x11, 0x03, 0x02, 0x20, 0x40})
	f.Add([]byte{0x02, 0x0f, 0xf0, 0x82, 0xf0, 0x0f, 0x01, 0x33})
	f.Fuzz(func(t *testing.T, data []byte) {
		names := []string{"a", "b", "c", "d"}
		var members []passed
		for i := 0; len(data) > 0 && len(members) < 5; i++ {
			head := data[0]
			data = data[1:]
			optional := head&0x80 != 0
			nalts := int(head&0x03) + 1
			if nalts > 3 {
				nalts = 3
			}
			var alts []descriptor.PlanSections
			for a := 0; a < nalts; a++ {
				var b byte
				if len(data) > 0 {
					b, data = data[0], data[1:]
				}
				var s descriptor.PlanSections
				for bit, n := range names {
					if b&(1<<bit) != 0 {
						s.Provides = append(s.Provides, descriptor.Provide{Name: n})
					}
					if b&(1<<(bit+4)) != 0 {
						s.Requires = append(s.Requires, descriptor.Require{Name: n})
					}
				}
				alts = append(alts, s)
			}
			bp := &descriptor.Buildpack{API: "0.12", Buildpack: descriptor.BuildpackInfo{ID: string(rune('p' + i)), Version: "1"}}
			members = append(members, passed{member: Member{Buildpack: bp, Optional: optional}, alts: alts})
		}
		res, reason, ok := resolvePlan(members)
		if !ok {
			if reason == "" {
				t.Fatal("failed resolution without a reason")
			}
			return
		}
		kept := map[string]bool{}
		for _, m := range res.kept {
			kept[m.Buildpack.Buildpack.ID] = true
		}
		for _, m := range members {
			if !m.member.Optional && !kept[m.member.Buildpack.Buildpack.ID] {
				t.Fatalf("required member %s was dropped", m.member.Ref())
			}
		}
		if len(res.kept)+len(res.dropped) != len(members) {
			t.Fatalf("%d kept + %d dropped != %d members", len(res.kept), len(res.dropped), len(members))
		}
		for _, e := range res.plan.Entries {
			if len(e.Providers) == 0 || len(e.Requires) == 0 {
				t.Fatalf("plan entry without providers or requires: %+v", e)
			}
			for _, p := range e.Providers {
				if !kept[p.ID] {
					t.Fatalf("plan entry provided by dropped member %s", p.ID)
				}
			}
			for _, r := range e.Requires {
				if r.Name != e.Requires[0].Name {
					t.Fatalf("plan entry mixes %q and %q", e.Requires[0].Name, r.Name)
				}
			}
		}
	})
}
