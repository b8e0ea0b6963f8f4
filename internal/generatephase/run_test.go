package generatephase

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/internal/testutil"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/failure"
)

// world is an extensions dir and the phase's other dirs.
type world struct {
	exts, app, platform, out string
}

func newWorld(t *testing.T) *world {
	base := t.TempDir()
	w := &world{exts: filepath.Join(base, "extensions"), app: filepath.Join(base, "app"), platform: filepath.Join(base, "platform"), out: filepath.Join(base, "layers", "generated")}
	for _, d := range []string{w.exts, w.app, w.platform} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// add writes extension id@1 with the given files (path -> content;
// bin/* are made executable) and returns its dir.
func (w *world) add(t *testing.T, id, api string, files map[string]string) string {
	dir := filepath.Join(w.exts, descriptor.EscapeID(id), "1")
	testutil.WriteFile(t, filepath.Join(dir, "extension.toml"), "api = \""+api+"\"\n[extension]\nid = \""+id+"\"\nversion = \"1\"\n", 0o644)
	for p, c := range files {
		mode := os.FileMode(0o644)
		if strings.HasPrefix(p, "bin/") {
			mode = 0o755
		}
		testutil.WriteFile(t, filepath.Join(dir, p), c, mode)
	}
	return dir
}

func (w *world) options(exts ...string) Options {
	o := Options{AppDir: w.app, PlatformDir: w.platform, OutputDir: w.out, ExtensionsDir: w.exts,
		BaseEnv: []string{"PATH=/usr/bin:/bin", "CNB_BUILDPACK_DIR=/stale"},
		Target:  descriptor.RunTarget{OS: "linux", Arch: "amd64"}}
	for _, id := range exts {
		o.Extensions = append(o.Extensions, descriptor.GroupEntry{ID: id, Version: "1", API: "0.12"})
	}
	return o
}

func TestRun(t *testing.T) {
	w := newWorld(t)
	// checks its interface, then writes a run.Dockerfile from its plan
	w.add(t, "samples/curl", "0.12", map[string]string{"bin/generate": `#!/bin/sh
set -e
[ "$1" = "$CNB_OUTPUT_DIR" ] && [ "$2" = "$CNB_PLATFORM_DIR" ] && [ "$3" = "$CNB_BP_PLAN_PATH" ]
[ -f "$CNB_EXTENSION_DIR/extension.toml" ] && [ -z "$CNB_BUILDPACK_DIR" ] && [ "$CNB_TARGET_OS" = linux ]
[ "$PWD" = "` + w.app + `" ]
grep -q 'name = "curl"' "$3"
echo generating
printf 'ARG base_image\nFROM example.com/run-curl\n' > "$1/run.Dockerfile"
`})
	// no bin/generate: its generate/ dir is its output
	w.add(t, "static", "0.10", map[string]string{"generate/build.Dockerfile": "ARG base_image\nFROM ${base_image}\n", "generate/context/x": "left out"})
	// an old output dir of the extension goes away
	testutil.WriteFile(t, filepath.Join(w.out, "static", "run.Dockerfile"), "stale", 0o644)

	o := w.options("samples/curl", "static")
	o.Plan = descriptor.Plan{Entries: []descriptor.PlanEntry{
		{Providers: []descriptor.Provider{{ID: "samples/curl", Version: "1", Extension: true}, {ID: "bp", Version: "1"}}, Requires: []descriptor.Require{{Name: "curl"}}},
		{Providers: []descriptor.Provider{{ID: "bp", Version: "1"}}, Requires: []descriptor.Require{{Name: "go"}}},
	}}
	var out bytes.Buffer
	o.Output = &out
	plan, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("Run: %v\noutput:\n%s", err, out.String())
	}
	want := descriptor.Plan{Entries: []descriptor.PlanEntry{o.Plan.Entries[1]}}
	if diff := cmp.Diff(want, plan); diff != "" {
		t.Errorf("plan left for the buildpacks (-want +got):\n%s", diff)
	}
	if got := out.String(); got != "[samples/curl] generating\n" {
		t.Errorf("output = %q", got)
	}
	files := map[string]string{}
	err = filepath.WalkDir(w.out, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(w.out, p)
			files[rel] = string(b)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := map[string]string{
		"samples_curl/run.Dockerfile": "ARG base_image\nFROM example.com/run-curl\n",
		"static/build.Dockerfile":     "ARG base_image\nFROM ${base_image}\n",
	}
	if diff := cmp.Diff(wantFiles, files); diff != "" {
		t.Errorf("generated files (-want +got):\n%s", diff)
	}
}

func TestRunFailures(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		link     bool // generate/run.Dockerfile is a symlink to a host file
		wantCode int
		wantText string
	}{
		{name: "bin/generate fails", files: map[string]string{"bin/generate": "#!/bin/sh\necho oops\nexit 7\n"},
			wantCode: failure.GenerateFailed, wantText: "extension e@1: bin/generate failed with exit code 7"},
		{name: "a static Dockerfile behind a link", link: true,
			wantCode: failure.GenerateError, wantText: "extension e@1:"},
		{name: "a static Dockerfile too large", files: map[string]string{"generate/run.Dockerfile": strings.Repeat("#", 2<<20)},
			wantCode: failure.GenerateError, wantText: "extension e@1:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			dir := w.add(t, "e", "0.12", tc.files)
			if tc.link {
				if err := os.MkdirAll(filepath.Join(dir, "generate"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink("/etc/passwd", filepath.Join(dir, "generate", "run.Dockerfile")); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Run(context.Background(), w.options("e"))
			if got := failure.Code(err); got != tc.wantCode {
				t.Fatalf("code = %d, want %d (error: %v)", got, tc.wantCode, err)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error = %v, want %q", err, tc.wantText)
			}
			var ee *ExtensionError
			if got := errors.As(err, &ee); got != (tc.wantCode == failure.GenerateFailed) {
				t.Errorf("errors.As(*ExtensionError) = %v", got)
			}
		})
	}
}

func TestRunMissingExtension(t *testing.T) {
	w := newWorld(t)
	_, err := Run(context.Background(), w.options("nope"))
	if failure.Code(err) != failure.GenerateError || !strings.Contains(err.Error(), "nope@1") {
		t.Fatalf("error = %v (code %d)", err, failure.Code(err))
	}
}
