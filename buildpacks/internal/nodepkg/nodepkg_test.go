package nodepkg

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    *Package
		wantErr string
	}{
		{
			name: "full",
			in:   `{"name":"app","main":"index.js","scripts":{"start":"node index.js","build":"vite build"},"engines":{"node":">=20"},"dependencies":{"express":"^4.19.2"},"devDependencies":{"vite":"^5"}}`,
			want: &Package{Name: "app", Main: "index.js", Scripts: map[string]string{"start": "node index.js", "build": "vite build"},
				Engines: map[string]string{"node": ">=20"}, Dependencies: map[string]string{"express": "^4.19.2"}, DevDependencies: map[string]string{"vite": "^5"}},
		},
		{name: "extra fields and nulls", in: "\ufeff{\"private\":true,\"main\":null,\"workspaces\":[\"a\"]}", want: &Package{}},
		{name: "syntax error position", in: "{\n  \"name\": \"app\",\n  \"scripts\": {,}\n}", wantErr: "package.json:3:15: invalid JSON"},
		{name: "trailing comma", in: "{\"name\": \"a\",}", wantErr: "package.json:1:14"},
		{name: "truncated", in: "{\"name\": ", wantErr: "invalid JSON"},
		{name: "array", in: "[]", wantErr: "must be a JSON object"},
		{name: "null", in: "null", wantErr: "not a JSON object"},
		{name: "wrong type", in: `{"engines":{"node":20}}`, wantErr: `"engines" has the wrong type`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse("package.json", []byte(tt.in))
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
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"scripts":{"start":"node x"},"engines":{"node":"20"}}`))
	f.Add([]byte("{\n,"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("package.json", data)
		if err == nil && p == nil {
			t.Fatal("nil package without error")
		}
	})
}

func TestStartOf(t *testing.T) {
	tests := []struct {
		name   string
		files  []string
		pkg    Package
		want   Start
		wantOK bool
	}{
		{"start script", []string{"server.js"}, Package{Scripts: map[string]string{"start": "node app.js"}}, Start{Script: "node app.js", Source: "scripts.start in package.json"}, true},
		{"server.js", []string{"server.js"}, Package{Main: "index.js"}, Start{File: "server.js", Source: "server.js, npm's default start"}, true},
		{"main", []string{"lib/app.js"}, Package{Main: "lib/app.js"}, Start{File: "lib/app.js", Source: "main in package.json"}, true},
		{"main missing on disk", nil, Package{Main: "index.js"}, Start{}, false},
		{"build only", nil, Package{Scripts: map[string]string{"build": "vite build"}}, Start{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tt.files {
				p := filepath.Join(dir, f)
				os.MkdirAll(filepath.Dir(p), 0o755)
				os.WriteFile(p, nil, 0o644)
			}
			got, ok := StartOf(dir, &tt.pkg)
			if ok != tt.wantOK {
				t.Errorf("ok = %v", ok)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
