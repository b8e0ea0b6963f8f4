package detect

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/testutil"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// bpSpec describes a tiny real buildpack written by the tests.
type bpSpec struct {
	id, version string
	api         string // "0.12" when empty
	exit        int    // bin/detect's exit code
	plan        string // TOML bin/detect writes to $CNB_BUILD_PLAN_PATH
	output      string // what bin/detect prints (stdout)
	stderr      string // what bin/detect prints on stderr
	script      string // extra shell lines run before exiting
	descriptor  string // extra buildpack.toml content (targets, clear-env ...)
	order       string // [[order]] TOML: makes the buildpack composite
	// extension makes it an image extension (under world.exts);
	// noDetect leaves its bin/detect out, staticPlan is then its
	// detect/plan.toml.
	extension  bool
	noDetect   bool
	staticPlan string
}

// world is a buildpacks root plus app and platform dirs in a temp dir.
type world struct {
	root, exts, app, platform, runs string
}

func newWorld(t *testing.T, specs ...bpSpec) *world {
	t.Helper()
	base := t.TempDir()
	w := &world{
		root:     filepath.Join(base, "buildpacks"),
		exts:     filepath.Join(base, "extensions"),
		app:      filepath.Join(base, "workspace"),
		platform: filepath.Join(base, "platform"),
		runs:     filepath.Join(base, "runs.log"),
	}
	for _, d := range []string{w.root, w.exts, w.app, w.platform} {
		mustMkdir(t, d)
	}
	for _, s := range specs {
		w.add(t, s)
	}
	return w
}

func (w *world) add(t *testing.T, s bpSpec) string {
	t.Helper()
	if s.version == "" {
		s.version = "1.0.0"
	}
	if s.api == "" {
		s.api = "0.12"
	}
	root, table, file := w.root, "buildpack", "buildpack.toml"
	if s.extension {
		root, table, file = w.exts, "extension", "extension.toml"
	}
	dir := filepath.Join(root, descriptor.EscapeID(s.id), s.version)
	mustMkdir(t, dir)
	desc := fmt.Sprintf("api = %q\n[%s]\nid = %q\nversion = %q\n%s\n", s.api, table, s.id, s.version, s.descriptor)
	if s.order != "" {
		desc += s.order
	}
	testutil.WriteFile(t, filepath.Join(dir, file), desc, 0o644)
	if s.staticPlan != "" {
		testutil.WriteFile(t, filepath.Join(dir, "detect", "plan.toml"), s.staticPlan, 0o644)
	}
	if s.order != "" || s.noDetect {
		return dir
	}
	var sh strings.Builder
	sh.WriteString("#!/bin/sh\n")
	fmt.Fprintf(&sh, "echo %q >> %q\n", s.id+"@"+s.version, w.runs)
	if s.plan != "" {
		fmt.Fprintf(&sh, "cat > \"$CNB_BUILD_PLAN_PATH\" <<'KILN_PLAN'\n%s\nKILN_PLAN\n", s.plan)
	}
	if s.output != "" {
		fmt.Fprintf(&sh, "printf '%%s\\n' %q\n", s.output)
	}
	if s.stderr != "" {
		fmt.Fprintf(&sh, "printf '%%s\\n' %q >&2\n", s.stderr)
	}
	sh.WriteString(s.script)
	fmt.Fprintf(&sh, "\nexit %d\n", s.exit)
	testutil.WriteFile(t, filepath.Join(dir, "bin", "detect"), sh.String(), 0o755)
	if !s.extension {
		testutil.WriteFile(t, filepath.Join(dir, "bin", "build"), "#!/bin/sh\nexit 0\n", 0o755)
	}
	return dir
}

// ranBuildpacks returns the refs whose bin/detect ran, in order.
func (w *world) ranBuildpacks(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(w.runs)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

func mustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// parseOrder turns a compact order notation into an Order: groups are
// separated by "|", entries by spaces, "id?" is optional and "id@v" pins a
// version (default 1.0.0).
func parseOrder(s string) descriptor.Order {
	var o descriptor.Order
	for _, g := range strings.Split(s, "|") {
		var grp descriptor.Group
		for _, f := range strings.Fields(g) {
			e := descriptor.GroupEntry{Version: "1.0.0"}
			if strings.HasSuffix(f, "?") {
				e.Optional = true
				f = strings.TrimSuffix(f, "?")
			}
			id, v, ok := strings.Cut(f, "@")
			e.ID = id
			if ok {
				e.Version = v
			}
			grp.Group = append(grp.Group, e)
		}
		o = append(o, grp)
	}
	return o
}

// orderTOML renders the compact notation as buildpack.toml [[order]] TOML.
func orderTOML(s string) string {
	var b strings.Builder
	for _, g := range parseOrder(s) {
		b.WriteString("[[order]]\n")
		for _, e := range g.Group {
			fmt.Fprintf(&b, "[[order.group]]\nid = %q\nversion = %q\noptional = %v\n", e.ID, e.Version, e.Optional)
		}
	}
	return b.String()
}
