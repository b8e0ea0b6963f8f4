package descriptor

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The fuzz targets check that decoders never panic on outside input and
// that whatever decodes cleanly survives an encode/decode round trip
// (free-form metadata tables are left out of the comparison).

func FuzzDecodeBuildpack(f *testing.F) {
	f.Add([]byte(fullBuildpackTOML))
	f.Add([]byte("api = \"0.9\"\n[buildpack]\nid = \"a\"\nversion = \"1\"\n[[stacks]]\nid = \"io.buildpacks.stacks.bionic\"\n"))
	f.Add([]byte("api = \"0.12\"\n[buildpack]\nid = \"c\"\nversion = \"1\"\nexec-env = [\"test\"]\n[[order]]\n[[order.group]]\nid = \"a\"\noptional = true\n"))
	f.Add([]byte("api = 1\n[buildpack]\nexec-env = [1, {x = 2}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		bp, err := DecodeBuildpack("fuzz", data)
		if err != nil {
			return
		}
		bp.Metadata = nil
		out, err := encodeTOML(bp)
		if err != nil {
			t.Fatalf("encoding a decoded descriptor: %v", err)
		}
		again, err := DecodeBuildpack("again", out)
		if err != nil {
			t.Fatalf("decoding the re-encoded descriptor: %v\n%s", err, out)
		}
		if diff := cmp.Diff(bp, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip mismatch (-first +second):\n%s", diff)
		}
	})
}

func FuzzDecodeOrder(f *testing.F) {
	f.Add([]byte("[[order]]\n[[order.group]]\nid = \"a\"\nversion = \"1\"\noptional = true\n"))
	f.Add([]byte("[[order]]\n[[order.group]]\nid = \"a\"\nexec-env = [\"test\"]\n[[order]]\n[[order.group]]\nid = \"b\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := DecodeOrder("fuzz", data)
		if err != nil {
			return
		}
		out, err := encodeTOML(orderFile{Order: o})
		if err != nil {
			t.Fatalf("encoding: %v", err)
		}
		again, err := DecodeOrder("again", out)
		if err != nil {
			t.Fatalf("decoding the re-encoded order: %v\n%s", err, out)
		}
		if diff := cmp.Diff(o, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip mismatch (-first +second):\n%s", diff)
		}
	})
}

func FuzzDecodeGroup(f *testing.F) {
	f.Add([]byte("[[group]]\nid = \"a\"\nversion = \"1\"\napi = \"0.12\"\nhomepage = \"h\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := DecodeGroup("fuzz", data)
		if err != nil {
			return
		}
		out, err := encodeTOML(groupFile{Group: g})
		if err != nil {
			t.Fatalf("encoding: %v", err)
		}
		again, err := DecodeGroup("again", out)
		if err != nil {
			t.Fatalf("decoding the re-encoded group: %v\n%s", err, out)
		}
		if diff := cmp.Diff(g, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip mismatch (-first +second):\n%s", diff)
		}
	})
}

func FuzzDecodeBuildPlan(f *testing.F) {
	f.Add([]byte("[[provides]]\nname = \"go\"\n[[requires]]\nname = \"go\"\n[requires.metadata]\nversion = \"1\"\n"), "0.12")
	f.Add([]byte("[[or]]\n[[or.provides]]\nname = \"a\"\n[[or.requires]]\nname = \"a\"\nversion = \"2\"\n"), "0.10")
	f.Add([]byte("[[requires]]\nname = \"go\"\nversion = 3\n"), "0.9")
	f.Fuzz(func(t *testing.T, data []byte, api string) {
		p, err := DecodeBuildPlan("fuzz", data, api)
		if err != nil {
			return
		}
		strip := func(p BuildPlan) BuildPlan {
			for i := range p.Requires {
				p.Requires[i].Metadata = nil
			}
			for _, alt := range p.Or {
				for i := range alt.Requires {
					alt.Requires[i].Metadata = nil
				}
			}
			return p
		}
		out, err := encodeTOML(p)
		if err != nil {
			t.Fatalf("encoding: %v", err)
		}
		again, err := DecodeBuildPlan("again", out, BuildpackAPI.String())
		if err != nil {
			t.Fatalf("decoding the re-encoded plan: %v\n%s", err, out)
		}
		if diff := cmp.Diff(strip(p), strip(again), cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip mismatch (-first +second):\n%s", diff)
		}
	})
}

func FuzzDecodePlan(f *testing.F) {
	f.Add([]byte("[[entries]]\n[[entries.providers]]\nid = \"a\"\nversion = \"1\"\n[[entries.requires]]\nname = \"go\"\n[entries.requires.metadata]\nv = 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodePlan("fuzz", data)
		if err != nil {
			return
		}
		for _, e := range p.Entries {
			for i := range e.Requires {
				e.Requires[i].Metadata = nil
			}
		}
		out, err := encodeTOML(p)
		if err != nil {
			t.Fatalf("encoding: %v", err)
		}
		again, err := DecodePlan("again", out)
		if err != nil {
			t.Fatalf("decoding the re-encoded plan: %v\n%s", err, out)
		}
		if diff := cmp.Diff(p, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip mismatch (-first +second):\n%s", diff)
		}
	})
}

func FuzzDecodeBuildpackPlan(f *testing.F) {
	f.Add([]byte("[[entries]]\nname = \"go\"\n[entries.metadata]\nversion = \"1\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodeBuildpackPlan("fuzz", data)
		if err != nil {
			return
		}
		for i := range p.Entries {
			p.Entries[i].Metadata = nil
		}
		out, err := encodeTOML(p)
		if err != nil {
			t.Fatalf("encoding: %v", err)
		}
		again, err := DecodeBuildpackPlan("again", out)
		if err != nil {
			t.Fatalf("decoding the re-encoded plan: %v\n%s", err, out)
		}
		if diff := cmp.Diff(p, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip mismatch (-first +second):\n%s", diff)
		}
	})
}

func FuzzDecodeExtension(f *testing.F) {
	f.Add([]byte("api = \"0.10\"\n[extension]\nid = \"samples/curl\"\nversion = \"0.0.1\"\n[[targets]]\nos = \"linux\"\n"))
	f.Add([]byte("api = \"0.12\"\n[extension]\nid = \"e\"\nversion = \"1\"\n[[order]]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeExtension("fuzz", data)
		if err != nil {
			return
		}
		if !e.IsExtension() || ValidateID(e.Buildpack.ID) != nil || ValidateVersion(e.Buildpack.Version) != nil {
			t.Fatalf("decoded an invalid extension: %+v", e)
		}
	})
}
