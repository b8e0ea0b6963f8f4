//go:build acceptance

package acceptance

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestBuilderCreateInspect: kiln builder create from a builder.toml in
// pack's format, read back by kiln inspect with its order intact, then
// used to build and run the app.
func TestBuilderCreateInspect(t *testing.T) {
	dir := t.TempDir()
	abs := func(n string) string { p, _ := filepath.Abs(filepath.Join("testdata", "buildpacks", n)); return p }
	toml := fmt.Sprintf(`description = "kiln acceptance builder"

[[buildpacks]]
uri = %q

[[buildpacks]]
uri = %q

[[buildpacks]]
uri = %q

[[order]]
[[order.group]]
id = "kiln-test/runtime"
version = "1.0.0"
[[order.group]]
id = "kiln-test/app"
[[order.group]]
id = "kiln-test/optional-fails"
optional = true

[[order]]
[[order.group]]
id = "kiln-test/runtime"

[build]
image = %q

[[run.images]]
image = %q
mirrors = ["mirror.example.com/kiln-test/run:latest"]
`, abs("runtime"), abs("app"), abs("optional-fails"), env.buildImage, env.runImage)
	cfg := filepath.Join(dir, "builder.toml")
	if err := os.WriteFile(cfg, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := env.reg.Host + "/kiln-test/created-builder:latest"
	mustKiln(t, "builder", "create", ref, "--config", cfg, "--publish")

	out := mustKiln(t, "inspect", ref, "--json")
	var rep struct {
		Kind    string `json:"kind"`
		Builder *struct {
			Description string `json:"description"`
			Order       []struct {
				Group []struct {
					ID       string `json:"id"`
					Version  string `json:"version"`
					Optional bool   `json:"optional"`
				} `json:"group"`
			} `json:"order"`
		} `json:"builder"`
	}
	// The JSON is the last thing printed.
	if i := indexJSON(out); i >= 0 {
		out = out[i:]
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Builder == nil {
		t.Fatalf("inspect --json: %v\n%s", err, out)
	}
	if rep.Builder.Description != "kiln acceptance builder" || len(rep.Builder.Order) != 2 {
		t.Fatalf("builder %+v", rep.Builder)
	}
	g := rep.Builder.Order[0].Group
	if len(g) != 3 || g[0].ID != "kiln-test/runtime" || g[1].Version != "2.1.0" || !g[2].Optional {
		t.Errorf("first group %+v", g)
	}
	text := mustKiln(t, "inspect", ref)
	wantContains(t, text, "kiln-test/optional-fails", "mirror.example.com/kiln-test/run:latest")

	// The builder builds the app.
	out = mustKiln(t, "build", env.reg.Host+"/kiln-test/from-created:latest", "--builder", ref, "--path", appSource(t), "--publish")
	wantContains(t, out, "pass: kiln-test/app@2.1.0")
	wantContains(t, mustKiln(t, "run", env.reg.Host+"/kiln-test/from-created:latest"), "app says: web")

	// A builder.toml with an unknown key is refused, naming the file and key.
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte(toml+"\nflavour = \"mint\"\n"), 0o644)
	r := kiln(t, "builder", "create", env.reg.Host+"/kiln-test/bad-builder:latest", "--config", bad, "--publish")
	if r.code == 0 {
		t.Fatal("a builder.toml with an unknown key was accepted")
	}
	wantContains(t, r.out, "bad.toml", "flavour")
}

func indexJSON(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '{' && (i == 0 || s[i-1] == '\n') {
			return i
		}
	}
	return -1
}
