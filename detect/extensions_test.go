package detect

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/failure"
)

func ext(id string) bpSpec { return bpSpec{id: id, extension: true} }

// memberRefs renders candidate groups with extensions marked "+id".
func memberRefs(groups [][]Member) []string {
	var out []string
	for _, g := range groups {
		var parts []string
		for _, m := range g {
			s := m.Buildpack.Buildpack.ID
			if m.Buildpack.IsExtension() {
				s = "+" + s
			}
			if m.Optional {
				s += "?"
			}
			parts = append(parts, s)
		}
		out = append(out, strings.Join(parts, " "))
	}
	return out
}

func TestExpandWithExtensions(t *testing.T) {
	w := newWorld(t, pass("a"), pass("b"), pass("c"), bpSpec{id: "o", order: orderTOML("b | c")},
		ext("x"), ext("y"), ext("z"), bpSpec{id: "t", extension: true, descriptor: `exec-env = ["test"]`})
	tests := []struct {
		name, order, exts, execEnv string
		want                       []string
		wantErr                    string
	}{
		{name: "no extensions", order: "a", want: []string{"a"}},
		{name: "each group tries every extensions group, then none", order: "a | b", exts: "x y | z",
			want: []string{"+x? +y? a", "+z? a", "a", "+x? +y? b", "+z? b", "b"}},
		{name: "extensions vary slowest around a composite", order: "o", exts: "x",
			want: []string{"+x? b", "+x? c", "b", "c"}},
		{name: "an extension outside the execution environment is left out", order: "a", exts: "x t", execEnv: "production",
			want: []string{"+x? a", "a"}},
		{name: "an extension id may equal a buildpack id", order: "a", exts: "a",
			want: []string{"+a? a", "a"}},
		{name: "missing extension", order: "a", exts: "nope", wantErr: "extension nope@1.0.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.exts == "a" {
				// an extension named like buildpack a
				w.add(t, ext("a"))
			}
			var exts descriptor.Order
			if tc.exts != "" {
				exts = parseOrder(tc.exts)
			}
			got, err := ExpandWithExtensions(parseOrder(tc.order), exts, descriptor.NewLookup(w.root), descriptor.NewExtensionLookup(w.exts), tc.execEnv)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, memberRefs(got)); diff != "" {
				t.Errorf("groups (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunWithExtensions(t *testing.T) {
	curl := "[[provides]]\nname = \"curl\""
	needsCurl := "[[requires]]\nname = \"curl\""
	tests := []struct {
		name     string
		specs    []bpSpec
		order    string
		exts     string
		wantBPs  []string
		wantExts []string
		wantPlan descriptor.Plan
		wantRuns []string
		wantCode int
		wantText []string
	}{
		{
			name:     "an extension provides what a buildpack requires",
			specs:    []bpSpec{withPlan(ext("x"), curl), withPlan(pass("a"), needsCurl)},
			order:    "a",
			exts:     "x",
			wantBPs:  []string{"a@1.0.0"},
			wantExts: []string{"x@1.0.0"},
			wantPlan: descriptor.Plan{Entries: []descriptor.PlanEntry{{
				Providers: []descriptor.Provider{{ID: "x", Version: "1.0.0", Extension: true}},
				Requires:  []descriptor.Require{{Name: "curl"}},
			}}},
			wantRuns: []string{"x@1.0.0", "a@1.0.0"},
		},
		{
			name:     "an extension providing what nobody requires is dropped",
			specs:    []bpSpec{withPlan(ext("x"), curl), pass("a")},
			order:    "a",
			exts:     "x",
			wantBPs:  []string{"a@1.0.0"},
			wantRuns: []string{"x@1.0.0", "a@1.0.0"},
		},
		{
			name:     "an extension with nothing to provide stays",
			specs:    []bpSpec{ext("x"), pass("a")},
			order:    "a",
			exts:     "x",
			wantBPs:  []string{"a@1.0.0"},
			wantExts: []string{"x@1.0.0"},
			wantRuns: []string{"x@1.0.0", "a@1.0.0"},
		},
		{
			name:     "an extension without bin/detect passes with its detect/plan.toml",
			specs:    []bpSpec{{id: "s", extension: true, noDetect: true, staticPlan: curl}, withPlan(pass("a"), needsCurl)},
			order:    "a",
			exts:     "s",
			wantBPs:  []string{"a@1.0.0"},
			wantExts: []string{"s@1.0.0"},
			wantPlan: descriptor.Plan{Entries: []descriptor.PlanEntry{{
				Providers: []descriptor.Provider{{ID: "s", Version: "1.0.0", Extension: true}},
				Requires:  []descriptor.Require{{Name: "curl"}},
			}}},
			wantRuns: []string{"a@1.0.0"},
		},
		{
			name:     "a failing extension leaves the group",
			specs:    []bpSpec{{id: "x", extension: true, exit: 100}, pass("a")},
			order:    "a",
			exts:     "x",
			wantBPs:  []string{"a@1.0.0"},
			wantRuns: []string{"x@1.0.0", "a@1.0.0"},
		},
		{
			// extensions are optional: [x a] passes as [a], so the next
			// extensions group is not tried (as the reference lifecycle does)
			name:     "a group passes without its failing extensions",
			specs:    []bpSpec{{id: "x", extension: true, exit: 100}, ext("y"), pass("a")},
			order:    "a",
			exts:     "x | y",
			wantBPs:  []string{"a@1.0.0"},
			wantRuns: []string{"x@1.0.0", "a@1.0.0"},
		},
		{
			name:     "a later extensions group serves a group the first does not",
			specs:    []bpSpec{{id: "x", extension: true, exit: 100}, withPlan(ext("y"), curl), withPlan(pass("a"), needsCurl)},
			order:    "a",
			exts:     "x | y",
			wantBPs:  []string{"a@1.0.0"},
			wantExts: []string{"y@1.0.0"},
			wantRuns: []string{"x@1.0.0", "a@1.0.0", "y@1.0.0"},
			wantPlan: descriptor.Plan{Entries: []descriptor.PlanEntry{{
				Providers: []descriptor.Provider{{ID: "y", Version: "1.0.0", Extension: true}},
				Requires:  []descriptor.Require{{Name: "curl"}},
			}}},
		},
		{
			name:     "an extension that requires errors, and is dropped",
			specs:    []bpSpec{withPlan(ext("x"), needsCurl), pass("a")},
			order:    "a",
			exts:     "x",
			wantBPs:  []string{"a@1.0.0"},
			wantRuns: []string{"x@1.0.0", "a@1.0.0"},
		},
		{
			name:     "it sees CNB_EXTENSION_DIR, not CNB_BUILDPACK_DIR",
			specs:    []bpSpec{{id: "x", extension: true, script: `test -f "$CNB_EXTENSION_DIR/extension.toml" && test -z "$CNB_BUILDPACK_DIR" || exit 100`}, pass("a")},
			order:    "a",
			exts:     "x",
			wantBPs:  []string{"a@1.0.0"},
			wantExts: []string{"x@1.0.0"},
			wantRuns: []string{"x@1.0.0", "a@1.0.0"},
		},
		{
			name:     "extensions alone do not make a group",
			specs:    []bpSpec{ext("x"), failing("a")},
			order:    "a",
			exts:     "x",
			wantRuns: []string{"x@1.0.0", "a@1.0.0"},
			wantCode: failure.DetectNoGroup,
			wantText: []string{"extension x@1.0.0: pass", "1. extension x@1.0.0, a@1.0.0: a@1.0.0 failed", "2. a@1.0.0: a@1.0.0 failed"},
		},
		{
			name:     "an erroring extension is reported",
			specs:    []bpSpec{withPlan(ext("x"), needsCurl), failing("a")},
			order:    "a",
			exts:     "x",
			wantRuns: []string{"x@1.0.0", "a@1.0.0"},
			wantCode: failure.DetectError,
			wantText: []string{`extension x@1.0.0: error: extension x@1.0.0: its build plan has [[requires]] "curl"; image extensions may only provide`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, tc.specs...)
			var log bytes.Buffer
			res, err := Run(context.Background(), Options{
				Order:           parseOrder(tc.order),
				Buildpacks:      descriptor.NewLookup(w.root),
				Extensions:      parseOrder(tc.exts),
				ExtensionFinder: descriptor.NewExtensionLookup(w.exts),
				AppDir:          w.app,
				PlatformDir:     w.platform,
				Target:          linuxAMD64,
				Log:             &log,
			})
			if diff := cmp.Diff(tc.wantRuns, w.ranBuildpacks(t)); diff != "" {
				t.Errorf("bin/detect runs (-want +got):\n%s", diff)
			}
			if tc.wantCode != 0 {
				if got := failure.Code(err); got != tc.wantCode {
					t.Fatalf("code = %d, want %d (error: %v)", got, tc.wantCode, err)
				}
				for _, s := range tc.wantText {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error text lacks %q:\n%s", s, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Run: %v\nlog:\n%s", err, log.String())
			}
			var bps, exts []string
			for _, e := range res.Group {
				bps = append(bps, e.Ref())
			}
			for i, e := range res.GroupExtensions {
				exts = append(exts, e.Ref())
				if !res.Extensions[i].IsExtension() || res.Extensions[i].Ref() != e.Ref() {
					t.Errorf("Extensions[%d] = %s, want the extension %s", i, res.Extensions[i].Ref(), e.Ref())
				}
			}
			if diff := cmp.Diff(tc.wantBPs, bps); diff != "" {
				t.Errorf("group (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantExts, exts); diff != "" {
				t.Errorf("group extensions (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantPlan, res.Plan); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunWritesGroupExtensions(t *testing.T) {
	w := newWorld(t, ext("x"), pass("a"))
	res, err := Run(context.Background(), Options{
		Order: parseOrder("a"), Buildpacks: descriptor.NewLookup(w.root),
		Extensions: parseOrder("x"), ExtensionFinder: descriptor.NewExtensionLookup(w.exts),
		AppDir: w.app, PlatformDir: w.platform, Target: linuxAMD64,
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := res.WriteFiles(filepath.Join(dir, "group.toml"), filepath.Join(dir, "plan.toml")); err != nil {
		t.Fatal(err)
	}
	got, err := descriptor.ReadGroups(filepath.Join(dir, "group.toml"))
	if err != nil {
		t.Fatal(err)
	}
	want := descriptor.Groups{
		Buildpacks: []descriptor.GroupEntry{{ID: "a", Version: "1.0.0", API: "0.12"}},
		Extensions: []descriptor.GroupEntry{{ID: "x", Version: "1.0.0", API: "0.12"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("group.toml (-want +got):\n%s", diff)
	}
}
