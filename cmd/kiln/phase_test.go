package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/lifecycle/create"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// dropUnchosen removes the restored dirs of buildpacks detect did not
// choose, keeps the chosen ones and anything not restored, and refuses a
// name that is not one dir below the layers dir.
func TestDropUnchosen(t *testing.T) {
	layers := t.TempDir()
	outside := t.TempDir()
	for _, d := range []string{"acme_go", "acme_node", "other", "config"} {
		if err := os.MkdirAll(filepath.Join(layers, d, "layer"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	group := []descriptor.GroupEntry{{ID: "acme/go", Version: "1"}}
	if err := dropUnchosen(layers, []string{"acme_go", "acme_node", "gone"}, group); err != nil {
		t.Fatal(err)
	}
	for d, want := range map[string]bool{"acme_go": true, "acme_node": false, "other": true, "config": true} {
		if _, err := os.Stat(filepath.Join(layers, d)); (err == nil) != want {
			t.Errorf("%s present = %v, want %v", d, err == nil, want)
		}
	}
	for _, bad := range []string{"..", ".", "", "a/b", "../" + filepath.Base(outside)} {
		err := dropUnchosen(layers, []string{bad}, group)
		if err == nil || !strings.Contains(err.Error(), "not a buildpack dir name") {
			t.Errorf("--restored %q: %v", bad, err)
		}
	}
	if _, err := os.Stat(outside); err != nil {
		t.Errorf("a dir outside the layers dir went: %v", err)
	}
}

// phase detect-generate detects with the order's extensions, runs their
// bin/generate into <generated>/<escaped id>/ and leaves the plan without
// the entries they met; phase detect-build refuses a group with
// extensions.
func TestPhaseDetectGenerate(t *testing.T) {
	base := t.TempDir()
	d := func(p string) string { return filepath.Join(base, p) }
	write := func(p, content string, mode os.FileMode) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(d(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(d(p), []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, dir := range []string{"app", "layers", "platform"} {
		if err := os.MkdirAll(d(dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("bps/a/1/buildpack.toml", "api = \"0.12\"\n[buildpack]\nid = \"a\"\nversion = \"1\"\n", 0o644)
	write("bps/a/1/bin/detect", "#!/bin/sh\nprintf '[[requires]]\\nname = \"curl\"\\n' > \"$CNB_BUILD_PLAN_PATH\"\n", 0o755)
	write("bps/a/1/bin/build", "#!/bin/sh\n", 0o755)
	write("exts/samples_curl/1/extension.toml", "api = \"0.12\"\n[extension]\nid = \"samples/curl\"\nversion = \"1\"\n", 0o644)
	write("exts/samples_curl/1/detect/plan.toml", "[[provides]]\nname = \"curl\"\n", 0o644)
	write("exts/samples_curl/1/bin/generate", "#!/bin/sh\necho 'FROM example.com/run-curl' > \"$1/run.Dockerfile\"\n", 0o755)
	write("order.toml", "[[order]]\n[[order.group]]\nid = \"a\"\nversion = \"1\"\n[[order-extensions]]\n[[order-extensions.group]]\nid = \"samples/curl\"\nversion = \"1\"\n", 0o644)

	args := func(sub string) []string {
		return []string{"kiln", "phase", sub, "--app", d("app"), "--layers", d("layers"), "--platform", d("platform"),
			"--buildpacks", d("bps"), "--extensions", d("exts"), "--generated", d("layers/generated"), "--order", d("order.toml"), "--target-os", "linux"}
	}
	app := newApp()
	var out strings.Builder
	app.Writer = &out
	if err := app.Run(args("detect-generate")); err != nil {
		t.Fatalf("detect-generate: %v\n%s", err, out.String())
	}
	groups, err := descriptor.ReadGroups(d("layers/group.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(groups.Extensions) != 1 || groups.Extensions[0].Ref() != "samples/curl@1" || len(groups.Buildpacks) != 1 {
		t.Errorf("group.toml %+v", groups)
	}
	data, err := os.ReadFile(d("layers/generated/samples_curl/run.Dockerfile"))
	if err != nil || string(data) != "FROM example.com/run-curl\n" {
		t.Errorf("run.Dockerfile %q (%v)", data, err)
	}
	plan, err := descriptor.ReadPlan(d("layers/plan.toml"))
	if err != nil || len(plan.Entries) != 0 {
		t.Errorf("plan %+v (%v): the extension met curl", plan, err)
	}
	if !strings.Contains(out.String(), "===> GENERATING\n") {
		t.Errorf("output lacks the GENERATING marker:\n%s", out.String())
	}

	app = newApp()
	app.Writer = io.Discard
	app.ExitErrHandler = func(*cli.Context, error) {} // no os.Exit in a test
	err = app.Run(args("detect-build"))
	if err == nil {
		t.Fatal("detect-build went on with image extensions in the group")
	}
	msg, _ := os.ReadFile(d("layers/" + create.DetectErrorRel))
	if !strings.Contains(string(msg), "need the generate phase") {
		t.Errorf("detect error file: %q", msg)
	}
}
