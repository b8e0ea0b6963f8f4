package integration

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/lifecycle/launch"
)

var (
	launchOnly  = launch.LayerTypes{Launch: true}
	cacheOnly   = launch.LayerTypes{Cache: true}
	buildCache  = launch.LayerTypes{Build: true, Cache: true}
	launchCache = launch.LayerTypes{Launch: true, Cache: true}
	allTypes    = launch.LayerTypes{Launch: true, Build: true, Cache: true}
)

// TestSamples builds every sample twice: cold, then after a one-line
// change with the cached layers restored. Both builds must serve the
// sample's body; the second must reuse the toolchain and dependency
// layers and download nothing.
func TestSamples(t *testing.T) {
	tests := []struct {
		sample    string
		group     []string
		detectLog string
		layers    map[string]map[string]launch.LayerTypes
		body      string
		edit      map[string][2]string
		body2     string
		reused    []string
		check     func(t *testing.T, s *site, o outcome, url string)
	}{
		{
			sample:    "go",
			group:     []string{"kiln/go"},
			detectLog: "Go: found go.mod",
			layers: map[string]map[string]launch.LayerTypes{
				"kiln/go": {"go": buildCache, "go-mod": cacheOnly, "go-build": cacheOnly, "go-out": cacheOnly, "app": launchOnly},
			},
			body:   "Hello from the kiln Go sample!",
			edit:   map[string][2]string{"main.go": {"Hello from the kiln Go sample!", "Hello again from the kiln Go sample!"}},
			body2:  "Hello again from the kiln Go sample!",
			reused: []string{"go", "go-mod", "go-build", "go-out"},
			check: func(t *testing.T, s *site, o outcome, url string) {
				if _, body := get(t, url+"/hello/kiln"); body != "Hello, kiln!\n" {
					t.Errorf("GET /hello/kiln = %q", body)
				}
				if !strings.Contains(o.log, "Using Go 1.22.") || !strings.Contains(o.log, "from go.mod's \"go 1.22\"") {
					t.Errorf("the log does not explain the Go version:\n%s", o.log)
				}
				if !strings.Contains(o.log, "Verified golang.org/toolchain@v0.0.1-go1.22.") {
					t.Errorf("the toolchain was not verified against the checksum database:\n%s", o.log)
				}
			},
		},
		{
			sample:    "node",
			group:     []string{"kiln/nodejs"},
			detectLog: "Node.js: found package.json",
			layers: map[string]map[string]launch.LayerTypes{
				"kiln/nodejs": {"node": allTypes, "npm": buildCache, "npm-cache": cacheOnly, "modules": launchCache},
			},
			body:   "Hello from the kiln Node.js sample!",
			edit:   map[string][2]string{"server.js": {"Hello from the kiln Node.js sample!", "Hello again from the kiln Node.js sample!"}},
			body2:  "Hello again from the kiln Node.js sample!",
			reused: []string{"node", "npm", "npm-cache", "modules"},
			check: func(t *testing.T, s *site, o outcome, url string) {
				_, body := get(t, url+"/env")
				if !strings.Contains(body, `"node":"v22.`) || !strings.Contains(body, `"env":"production"`) {
					t.Errorf("GET /env = %s; want Node.js 22 (engines.node 22.x) and NODE_ENV=production", body)
				}
				if !strings.Contains(o.log, "Running node") || !strings.Contains(o.log, "npm-cli.js ci --omit=dev") {
					t.Errorf("npm ci did not run:\n%s", o.log)
				}
			},
		},
		{
			sample:    "python",
			group:     []string{"kiln/python"},
			detectLog: "Python: found requirements.txt",
			layers: map[string]map[string]launch.LayerTypes{
				"kiln/python": {"python": allTypes, "pip": buildCache},
			},
			body:   "Hello from the kiln Python sample!",
			edit:   map[string][2]string{"app.py": {"Hello from the kiln Python sample!", "Hello again from the kiln Python sample!"}},
			body2:  "Hello again from the kiln Python sample!",
			reused: []string{"python", "pip"},
			check: func(t *testing.T, s *site, o outcome, url string) {
				if _, body := get(t, url+"/version"); !strings.HasPrefix(body, "3.11.") {
					t.Errorf("GET /version = %q, want Debian bookworm's 3.11", body)
				}
				e := s.launchEnv(o, "web")
				if !strings.HasPrefix(e.Get("PATH"), s.layers) {
					t.Errorf("launch PATH %s does not start with a layer", e.Get("PATH"))
				}
			},
		},
		{
			sample:    "static",
			group:     []string{"kiln/static"},
			detectLog: "Static: found index.html",
			layers: map[string]map[string]launch.LayerTypes{
				"kiln/static": {"server": launchOnly},
			},
			body:  "<!doctype html>",
			edit:  map[string][2]string{"index.html": {"Hello from the kiln static sample!", "Hello again from the kiln static sample!"}},
			body2: "<!doctype html>",
			check: func(t *testing.T, s *site, o outcome, url string) {
				_, body := get(t, url+"/")
				if !strings.Contains(body, "kiln static sample!") {
					t.Errorf("GET / = %q", body)
				}
				if code, body := get(t, url+"/no/such/page"); code != 404 || !strings.Contains(body, "Nothing here") {
					t.Errorf("GET /no/such/page = %d %q, want the 404 page", code, body)
				}
			},
		},
		{
			sample:    "procfile",
			group:     []string{"kiln/python", "kiln/procfile"},
			detectLog: "Procfile: found Procfile",
			layers: map[string]map[string]launch.LayerTypes{
				"kiln/python":   {"python": allTypes, "pip": buildCache},
				"kiln/procfile": {"exec": launchOnly},
			},
			body:   "Hello from the kiln Procfile sample!",
			edit:   map[string][2]string{"site/index.html": {"Hello from", "Hello again from"}},
			body2:  "Hello again from the kiln Procfile sample!",
			reused: []string{"python", "pip"},
			check: func(t *testing.T, s *site, o outcome, url string) {
				// the run image has no shell: kiln-exec expands ${PORT:-8080}
				p, _ := o.meta.Process("web")
				helper := filepath.Join(s.layers, "kiln_procfile", "exec", "bin", "kiln-exec")
				if diff := cmp.Diff([]string{helper, "python3 -m http.server ${PORT:-8080} --directory site"}, p.Command); diff != "" || p.BuildpackID != "kiln/procfile" {
					t.Errorf("web process from %s (-want +got):\n%s", p.BuildpackID, diff)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.sample, func(t *testing.T) {
			ctx := context.Background()
			s := newSite(t, nil)
			s.putSource(sample(tt.sample), nil)
			o := s.mustBuild(ctx)
			logged := false
			t.Cleanup(func() {
				if (t.Failed() || testing.Verbose()) && !logged {
					t.Logf("build log:\n%s", o.log)
				}
			})
			if diff := cmp.Diff(tt.group, o.group); diff != "" {
				t.Fatalf("detected group (-want +got):\n%s\n%s", diff, o.log)
			}
			if !strings.Contains(o.log, tt.detectLog) {
				t.Errorf("the log does not explain detection with %q:\n%s", tt.detectLog, o.log)
			}
			for id, want := range tt.layers {
				if diff := cmp.Diff(want, s.layerTypes(id)); diff != "" {
					t.Errorf("%s layers (-want +got):\n%s", id, diff)
				}
			}
			if o.meta.BuildpackDefaultProcessType != "web" {
				t.Errorf("default process %q, want web", o.meta.BuildpackDefaultProcessType)
			}
			url := s.serve(o)
			if code, body := get(t, url+"/"); code != 200 || !strings.HasPrefix(body, tt.body) {
				t.Errorf("GET / = %d %q, want 200 starting with %q", code, body, tt.body)
			}
			if tt.check != nil {
				tt.check(t, s, o, url)
			}
			if t.Failed() {
				return
			}
			if testing.Verbose() {
				t.Logf("build log:\n%s", o.log)
			}
			logged = true

			// warm rebuild after a one-line change
			s.restore()
			s.putSource(sample(tt.sample), tt.edit)
			o2 := s.mustBuild(ctx)
			for _, l := range tt.reused {
				if !strings.Contains(o2.log, "Reusing cached layer "+l+"\n") {
					t.Errorf("the second build did not reuse layer %s", l)
				}
			}
			for _, bad := range []string{"Downloading", "download cache", "go: downloading", "Creating layer", "Rebuilding layer"} {
				// The Go app's binaries changed with the edit: its app
				// layer is made again, and says so.
				log := strings.ReplaceAll(o2.log, "Rebuilding layer app (launch): binaries-sha256 changed", "")
				if strings.Contains(log, bad) {
					t.Errorf("the second build's log contains %q", bad)
				}
			}
			url2 := s.serve(o2)
			if code, body := get(t, url2+"/"); code != 200 || !strings.Contains(body, tt.body2) {
				t.Errorf("after the change GET / = %d %q, want 200 with %q", code, body, tt.body2)
			}
			if t.Failed() || testing.Verbose() {
				t.Logf("second build log:\n%s", o2.log)
			}
		})
	}
}
