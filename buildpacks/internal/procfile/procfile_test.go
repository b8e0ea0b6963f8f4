package procfile

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/buildpacks/sdk"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Process
		wantErr string
	}{
		{
			name: "web and worker",
			in:   "# comment\nweb: python3 -m http.server $PORT\n\nworker:   ./work --fast  \n",
			want: []Process{{"web", "python3 -m http.server $PORT", 2}, {"worker", "./work --fast", 4}},
		},
		{
			name: "colons in the command and CRLF",
			in:   "\ufeffweb: node -e 'console.log(1)' http://x:8080\r\n",
			want: []Process{{"web", "node -e 'console.log(1)' http://x:8080", 1}},
		},
		{name: "empty", in: "", wantErr: "defines no processes"},
		{name: "only comments", in: "# web: x\n\n", wantErr: "defines no processes"},
		{name: "no colon", in: "web python app.py\n", wantErr: "Procfile:1: \"web python app.py\" is not"},
		{name: "bad type", in: "web app: x\n", wantErr: "Procfile:1: process type \"web app\""},
		{name: "empty command", in: "\nweb:\n", wantErr: "Procfile:2: process \"web\" has no command"},
		{name: "duplicate", in: "web: a\nweb: b\n", wantErr: "Procfile:2: process \"web\" is already defined on line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse("Procfile", []byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if _, err := Parse("Procfile", nil); !errors.Is(err, ErrNoProcesses) {
		t.Errorf("empty Procfile error %v does not wrap ErrNoProcesses", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("web: a\nworker: b\n"))
	f.Add([]byte("# x\n:\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := Parse("Procfile", data)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, p := range ps {
			if !sdk.ValidProcessType(p.Type) || p.Command == "" || seen[p.Type] {
				t.Fatalf("bad process accepted: %+v", p)
			}
			seen[p.Type] = true
		}
	})
}
