//go:build acceptance

package acceptance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSamples builds every sample with the default builder, runs it with
// kiln run and checks its answer over HTTP. Then it changes one source
// line and rebuilds: the cached layers come back, the toolchain is not
// downloaded again, and the new body is served.
func TestSamples(t *testing.T) {
	shippedStack(t) // the stack cache the default builder uses
	useKilnBuildpacks(t)
	os.Unsetenv("KILN_BUILDER")
	for _, tc := range []struct {
		// greeting is what GET / answers, found in file.
		sample, file, greeting string
	}{
		{"go", "main.go", "Hello from the kiln Go sample!"},
		{"node", "server.js", "Hello from the kiln Node.js sample!"},
		{"python", "app.py", "Hello from the kiln Python sample!"},
		{"static", "index.html", "Hello from the kiln static sample!"},
		{"procfile", "site/index.html", "Hello from the kiln Procfile sample!"},
	} {
		t.Run(tc.sample, func(t *testing.T) {
			src := copySample(t, tc.sample)
			image := "samples/" + tc.sample
			out := mustKiln(t, "build", image, "--path", src)
			wantContains(t, out, "BUILDER kiln/default-builder:latest")
			if got := runAndGet(t, image, freePort(t)); !strings.Contains(got, tc.greeting) {
				t.Fatalf("GET / = %q, want it to contain %q", got, tc.greeting)
			}

			// One line changed.
			p := filepath.Join(src, tc.file)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			changed := strings.Replace(string(b), tc.greeting, tc.greeting+" (changed)", 1)
			if changed == string(b) {
				t.Fatalf("%s does not contain %q", tc.file, tc.greeting)
			}
			if err := os.WriteFile(p, []byte(changed), 0o644); err != nil {
				t.Fatal(err)
			}
			out = mustKiln(t, "build", image, "--path", src)
			wantNotContains(t, out, "Downloading")
			if tc.sample == "go" || tc.sample == "node" || tc.sample == "python" {
				wantContains(t, out, "Reusing cached layer")
			}
			if got := runAndGet(t, image, freePort(t)); !strings.Contains(got, tc.greeting+" (changed)") {
				t.Errorf("after the change GET / = %q", got)
			}
		})
	}
}
