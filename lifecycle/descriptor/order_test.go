package descriptor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeOrder(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Order
		wantErr string
	}{
		{
			name: "two groups, optional defaults to false",
			in: `[[order]]
[[order.group]]
id = "kiln/go"
version = "1.0.0"
[[order.group]]
id = "kiln/procfile"
version = "2.0.0"
optional = true
[[order]]
[[order.group]]
id = "kiln/static"
[[order-extensions]]
[[order-extensions.group]]
id = "ext"
version = "1"
`,
			want: Order{
				{Group: []GroupEntry{{ID: "kiln/go", Version: "1.0.0"}, {ID: "kiln/procfile", Version: "2.0.0", Optional: true}}},
				{Group: []GroupEntry{{ID: "kiln/static"}}},
			},
		},
		{name: "empty file", in: "", want: nil},
		{name: "missing id", in: "[[order]]\n[[order.group]]\nversion = \"1\"\n", wantErr: "id is missing"},
		{name: "empty group", in: "[[order]]\n", wantErr: "empty group"},
		{name: "syntax", in: "[[order]]\n[[order.group]]\nid = = 1\n", wantErr: "line 3"},
		{name: "syntax at end of line", in: "[[order]\nx = 1\n", wantErr: "line 1:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeOrder("order.toml", []byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "order.toml") {
					t.Fatalf("error = %v, want one naming order.toml and containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOrderRoundTrip(t *testing.T) {
	want := Order{
		{Group: []GroupEntry{{ID: "a", Version: "1"}, {ID: "b", Version: "2", Optional: true, ExecEnv: ExecEnvs{"test"}}}},
		{Group: []GroupEntry{{ID: "c", Version: "3"}}},
	}
	p := filepath.Join(t.TempDir(), OrderFile)
	if err := WriteOrder(p, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadOrder(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

func TestDecodeGroup(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []GroupEntry
		wantErr string
	}{
		{
			name: "entries with api and homepage",
			in:   "[[group]]\nid = \"a\"\nversion = \"1\"\napi = \"0.12\"\nhomepage = \"https://a\"\nexec-env = [\"test\"]\n[[group-extensions]]\nid = \"e\"\nversion = \"1\"\napi = \"0.12\"\n",
			want: []GroupEntry{{ID: "a", Version: "1", API: "0.12", Homepage: "https://a", ExecEnv: ExecEnvs{"test"}}},
		},
		{name: "missing api", in: "[[group]]\nid = \"a\"\nversion = \"1\"\n", wantErr: "api is missing"},
		{name: "missing version", in: "[[group]]\nid = \"a\"\napi = \"0.12\"\n", wantErr: "version is missing"},
		{name: "missing id", in: "[[group]]\nversion = \"1\"\napi = \"0.12\"\n", wantErr: "id is missing"},
		{name: "bad api", in: "[[group]]\nid = \"a\"\nversion = \"1\"\napi = \"x\"\n", wantErr: `API version "x"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeGroup("group.toml", []byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "group.toml") {
					t.Fatalf("error = %v, want one naming group.toml and containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGroupRoundTripDropsOptional(t *testing.T) {
	in := []GroupEntry{{ID: "a", Version: "1", API: "0.12", Optional: true}, {ID: "b/c", Version: "2", API: "0.10", Homepage: "h"}}
	p := filepath.Join(t.TempDir(), GroupFile)
	if err := WriteGroup(p, in); err != nil {
		t.Fatal(err)
	}
	got, err := ReadGroup(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []GroupEntry{{ID: "a", Version: "1", API: "0.12"}, {ID: "b/c", Version: "2", API: "0.10", Homepage: "h"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
	if !in[0].Optional {
		t.Error("WriteGroup modified its input")
	}
	data, _ := os.ReadFile(p)
	if strings.Contains(string(data), "optional") {
		t.Errorf("group.toml should not carry optional:\n%s", data)
	}
}
