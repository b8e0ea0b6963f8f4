package nodepkg

import "testing"

func TestDevServer(t *testing.T) {
	for script, want := range map[string]bool{
		"react-scripts start":              true,
		"vite":                             true,
		"vite --port 3000":                 true,
		"vite preview":                     true,
		"BROWSER=none react-scripts start": true,
		"next start":                       false,
		"node server.js":                   false,
		"vite build":                       false,
		"astro dev":                        true,
		"tsx server.ts":                    false,
	} {
		if got := DevServer(script); got != want {
			t.Errorf("DevServer(%q) = %v, want %v", script, got, want)
		}
	}
}

func TestServesStatic(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		scripts map[string]string
		want    bool
	}{
		{map[string]string{"build": "react-scripts build", "start": "react-scripts start"}, true},
		{map[string]string{"build": "vite build"}, true},
		{map[string]string{"build": "next build", "start": "next start"}, false},
		{map[string]string{"start": "vite"}, false},
	} {
		if _, got := ServesStatic(dir, &Package{Scripts: tc.scripts}); got != tc.want {
			t.Errorf("ServesStatic(%v) = %v, want %v", tc.scripts, got, tc.want)
		}
	}
}
