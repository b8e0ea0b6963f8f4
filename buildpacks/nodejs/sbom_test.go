package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestLockComponents(t *testing.T) {
	for _, tc := range []struct {
		name      string
		lock      string
		installed func(string) bool
		want      []string // name@version purl licences
		err       string
	}{{
		name: "v3 with dev, scoped, nested, link and licences",
		lock: `{"lockfileVersion": 3, "packages": {
			"": {"name": "app", "version": "1.0.0"},
			"node_modules/express": {"version": "4.21.2", "license": "MIT"},
			"node_modules/@types/node": {"version": "22.0.0", "dev": true, "license": "MIT"},
			"node_modules/@scope/pkg": {"version": "1.2.3", "license": "(MIT OR Apache-2.0)"},
			"node_modules/express/node_modules/debug": {"version": "2.6.9", "license": {"type": "MIT"}},
			"node_modules/workspace-a": {"resolved": "packages/a", "link": true},
			"packages/a": {"name": "workspace-a", "version": "0.0.1"},
			"node_modules/alias": {"name": "real-name", "version": "3.0.0"}
		}}`,
		want: []string{
			"@scope/pkg@1.2.3 pkg:npm/%40scope/pkg@1.2.3 (MIT OR Apache-2.0)",
			"debug@2.6.9 pkg:npm/debug@2.6.9 MIT",
			"express@4.21.2 pkg:npm/express@4.21.2 MIT",
			"real-name@3.0.0 pkg:npm/real-name@3.0.0 ",
		},
	}, {
		name: "v2 keeps dependencies too, packages win",
		lock: `{"lockfileVersion": 2, "packages": {
			"": {"name": "app"},
			"node_modules/a": {"version": "1.0.0"},
			"node_modules/b": {"version": "2.0.0", "dev": true}
		}, "dependencies": {"a": {"version": "1.0.0"}, "b": {"version": "2.0.0", "dev": true}}}`,
		want: []string{"a@1.0.0 pkg:npm/a@1.0.0 "},
	}, {
		name: "optional package npm did not install",
		lock: `{"lockfileVersion": 3, "packages": {
			"node_modules/a": {"version": "1.0.0"},
			"node_modules/@esbuild/darwin-arm64": {"version": "0.20.0", "optional": true}
		}}`,
		installed: func(p string) bool { return !strings.Contains(p, "darwin") },
		want:      []string{"a@1.0.0 pkg:npm/a@1.0.0 "},
	}, {
		name: "v1 has no packages",
		lock: `{"lockfileVersion": 1, "dependencies": {"a": {"version": "1.0.0"}}}`,
		err:  "lockfileVersion 1 has no",
	}, {
		name: "not JSON",
		lock: `{"packages": [`,
		err:  "unexpected end",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			comps, err := lockComponents([]byte(tc.lock), tc.installed)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range comps {
				got = append(got, c.Name+"@"+c.Version+" "+c.PURL+" "+strings.Join(c.Licenses, ","))
			}
			if diff := cmp.Diff(tc.want, got, cmpSorted); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

var cmpSorted = cmpopts.SortSlices(func(a, b string) bool { return a < b })
