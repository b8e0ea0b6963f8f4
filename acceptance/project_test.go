//go:build acceptance

package acceptance

import (
	"archive/tar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/lifecycle/labels"
)

// imageEntries is every entry name of the image's layers.
func imageEntries(t *testing.T, ref string) map[string]bool {
	t.Helper()
	layers, err := pull(t, ref).Layers()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, l := range layers {
		walkLayer(t, l, func(name string, _ *tar.Header, _ *tar.Reader) { out[name] = true })
	}
	return out
}

// TestProjectSampleBashScript builds buildpacks/samples' bash-script app
// as it is: its project.toml names the buildpack directory it ships
// and excludes that directory and README.md, which must not reach the
// image; the image runs in podman.
func TestProjectSampleBashScript(t *testing.T) {
	app := copyTree(t, filepath.Join("testdata", "cnb-samples", "bash-script"), filepath.Join(t.TempDir(), "bash-script"))
	ref := env.reg.Host + "/kiln-test/bash-script:latest"
	out := mustKiln(t, "build", ref, "--builder", env.builder, "--path", app, "--publish")
	wantContains(t, out, "pass: samples/bash-script@0.0.1", "---> Bash Script buildpack", "Successfully built")

	files := imageEntries(t, ref)
	if !files["workspace/app.sh"] {
		t.Error("workspace/app.sh is not in the image")
	}
	for _, p := range []string{"workspace/README.md", "workspace/bash-script-buildpack", "workspace/bash-script-buildpack/bin/build"} {
		if files[p] {
			t.Errorf("%s, excluded by project.toml, is in the image", p)
		}
	}

	podman := newPodman(t)
	if out, err := podman("run", "--rm", "--pull=always", "--tls-verify=false", ref); err != nil {
		t.Fatalf("podman run: %v\n%s", err, out)
	} else {
		wantContains(t, out, "Here are the contents of the current working directory:", "app.sh")
		wantNotContains(t, out, "README.md", "bash-script-buildpack")
	}
}

// TestProjectDescriptor covers schema 0.2 given with --descriptor:
// include, the group with a relative buildpack directory, pre and post
// inline buildpacks, the build env under --env, and the project metadata
// of a git checkout.
func TestProjectDescriptor(t *testing.T) {
	root := t.TempDir()
	app := filepath.Join(root, "app")
	write := func(p, body string, mode os.FileMode) {
		t.Helper()
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("app/run.sh", "#!/bin/sh\necho \"app runs with $(ls /workspace | tr '\\n' ' ')\"\n", 0o755)
	write("app/keep/data.txt", "data", 0o644)
	write("app/secret.env", "TOKEN=s3cret-in-secret-env", 0o600)
	write("app/docs/guide.md", "docs", 0o644)
	// the buildpack lives beside the descriptor, outside the app
	write("ci/bp/buildpack.toml", "api = \"0.10\"\n[buildpack]\nid = \"example/shell\"\nversion = \"1.0.0\"\n", 0o644)
	write("ci/bp/bin/detect", "#!/bin/sh\ntest -f run.sh\n", 0o755)
	write("ci/bp/bin/build", `#!/bin/sh
set -e
echo "shell bp: FOO=$(cat "$2/env/FOO") BAR=$(cat "$2/env/BAR") args=$#"
printf '[[processes]]\ntype = "web"\ncommand = ["./run.sh"]\ndefault = true\n' > "$1/launch.toml"
`, 0o755)
	write("ci/project.toml", `[_]
schema-version = "0.2"
id = "example/app"
version = "2.0.0"

[io.buildpacks]
include = ["run.sh", "keep/"]

[[io.buildpacks.group]]
uri = "bp"

[[io.buildpacks.pre.group]]
id = "example/pre"
  [io.buildpacks.pre.group.script]
  api = "0.10"
  inline = "echo \"pre ran in $(pwd) with $(ls | tr '\\n' ' ')\""

[[io.buildpacks.post.group]]
id = "example/post"
  [io.buildpacks.post.group.script]
  api = "0.10"
  shell = "/bin/bash"
  inline = "echo \"post ran after, BASH=${BASH_VERSION:+yes}\""

[[io.buildpacks.build.env]]
name = "FOO"
value = "from-project"

[[io.buildpacks.build.env]]
name = "BAR"
value = "from-project"
`, 0o644)
	git := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("git", append([]string{"-C", app, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "-b", "main")
	git("add", ".")
	git("commit", "-q", "-m", "app")
	git("remote", "add", "origin", "https://deploy:tok3n@git.example.com/org/app.git")
	commit := git("rev-parse", "HEAD")

	ref := env.reg.Host + "/kiln-test/project:latest"
	out := mustKiln(t, "build", ref, "--builder", env.builder, "--path", app, "--publish",
		"--descriptor", filepath.Join(root, "ci", "project.toml"), "--env", "BAR=from-flag")
	wantContains(t, out,
		"pre ran in /workspace with keep run.sh",
		"shell bp: FOO=from-project BAR=from-flag args=3",
		"post ran after, BASH=yes",
	)

	files := imageEntries(t, ref)
	for _, p := range []string{"workspace/run.sh", "workspace/keep/data.txt"} {
		if !files[p] {
			t.Errorf("%s is not in the image", p)
		}
	}
	for p := range files {
		if strings.HasPrefix(p, "workspace/secret.env") || strings.HasPrefix(p, "workspace/docs") || strings.HasPrefix(p, "workspace/.git") {
			t.Errorf("%s, not included by the project, is in the image", p)
		}
	}

	cfg, err := pull(t, ref).ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	var pm labels.Project
	if ok, err := labels.Decode(cfg, labels.ProjectMetadata, &pm); !ok || err != nil || pm.Source == nil {
		t.Fatalf("project metadata: %v %v %+v", ok, err, pm)
	}
	if pm.Source.Type != "git" || pm.Source.Version["commit"] != commit || pm.Source.Metadata["repository"] != "https://git.example.com/org/app.git" {
		t.Errorf("project metadata source %+v, want git commit %s and the remote without credentials", pm.Source, commit)
	}
	if strings.Contains(cfg.Config.Labels[labels.ProjectMetadata], "tok3n") {
		t.Error("the remote's credentials are in the label")
	}
	out = mustKiln(t, "run", ref)
	wantContains(t, out, "app runs with keep run.sh")
}

// TestProjectDescriptorErrors: a descriptor kiln cannot follow stops the
// build before anything runs, with exit code 2 and the file named.
func TestProjectDescriptorErrors(t *testing.T) {
	for _, tc := range []struct{ name, toml, want string }{
		{"include and exclude", "[build]\ninclude = [\"a\"]\nexclude = [\"b\"]\n", "build.include and build.exclude exclude each other"},
		{"missing buildpack dir", "[[build.buildpacks]]\nuri = \"nowhere/\"\n", `buildpack uri "nowhere/"`},
		{"syntax", "[build\n", "expected '.' or ']'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := appSource(t)
			p := filepath.Join(app, "project.toml")
			if err := os.WriteFile(p, []byte(tc.toml), 0o644); err != nil {
				t.Fatal(err)
			}
			r := kiln(t, "build", "project/bad", "--builder", env.builder, "--path", app)
			if r.code != 2 {
				t.Errorf("exit code %d, want 2", r.code)
			}
			wantContains(t, r.out, p, tc.want)
			wantNotContains(t, r.out, "DETECTING")
		})
	}
	r := kiln(t, "build", "project/bad", "--builder", env.builder, "--path", appSource(t), "--descriptor", "/nonexistent/project.toml")
	if r.code != 2 {
		t.Errorf("missing --descriptor: exit code %d, want 2", r.code)
	}
	wantContains(t, r.out, "/nonexistent/project.toml")
}

// TestSampleShellBuildpacks builds with buildpacks/samples' hello-world
// and hello-processes as they are (Buildpack API 0.11): both read only
// their positional arguments, and the process hello-processes declares
// runs.
func TestSampleShellBuildpacks(t *testing.T) {
	bps := filepath.Join("testdata", "cnb-samples", "buildpacks")
	ref := env.reg.Host + "/kiln-test/hello-samples:latest"
	out := mustKiln(t, "build", ref, "--builder", env.builder, "--path", appSource(t), "--publish",
		"--buildpack", filepath.Join(bps, "hello-world"), "--buildpack", filepath.Join(bps, "hello-processes"),
		"--env", "HELLO_FROM=platform")
	wantContains(t, out,
		"---> Hello World buildpack",
		"plan_path: /",
		`name = "some-world"`, // the plan it read from $3
		"HELLO_FROM=\"platform\"",
		"---> Hello processes buildpack",
		"---> Adding sys-info process",
	)
	wantNotContains(t, out, "cannot access", "cannot create directory")
	out = mustKiln(t, "run", "--process", "sys-info", ref)
	wantContains(t, out, "env vars:", `PWD="/workspace"`)
	podmanRuns(t, ref, "/cnb/process/sys-info", "env vars:")
}

// podmanRuns runs the published image ref in podman with entrypoint and
// wants its output to hold wants.
func podmanRuns(t *testing.T, ref, entrypoint string, wants ...string) {
	t.Helper()
	out, err := newPodman(t)("run", "--rm", "--pull=always", "--tls-verify=false", "--network", "host", "--entrypoint", entrypoint, ref)
	if err != nil {
		t.Fatalf("podman run %s: %v\n%s", ref, err, out)
	}
	wantContains(t, out, wants...)
}

// TestSampleBuilderTOML makes a builder with kiln builder create from a
// builder.toml as pack reads it ([[targets]] for two platforms,
// [[build.env]], [system], [lifecycle]) around buildpacks/samples'
// shell buildpacks, and builds with it: the operator variables reach the
// buildpacks and the system buildpack runs after the group.
func TestSampleBuilderTOML(t *testing.T) {
	dir := t.TempDir()
	bps, err := filepath.Abs(filepath.Join("testdata", "cnb-samples", "buildpacks"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "builder.toml")
	if err := os.WriteFile(cfg, []byte(`description = "samples builder"

[[buildpacks]]
uri = "`+filepath.Join(bps, "hello-world")+`"

[[buildpacks]]
id = "samples/hello-processes"
uri = "`+filepath.Join(bps, "hello-processes")+`"

[[order]]
[[order.group]]
id = "samples/hello-world"

[system.post]
buildpacks = [{ id = "samples/hello-processes", optional = true }]

[build]
image = "`+env.buildImage+`"

[[build.env]]
name = "SAMPLE_OPERATOR_VAR"
value = "from-builder-toml"

[[build.env]]
name = "PATH"
value = "/opt/operator/bin"
suffix = "append"
delim = ":"

[[run.images]]
image = "`+env.runImage+`"

[[targets]]
os = "linux"
arch = "amd64"

[[targets]]
os = "linux"
arch = "arm64"

[lifecycle]
version = "0.21.0"
`), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := env.reg.Host + "/kiln-test/samples-builder:latest"
	out := mustKiln(t, "builder", "create", ref, "--config", cfg, "--publish")
	wantContains(t, out, "[lifecycle] 0.21.0 is not put into the builder", "also targets linux/arm64")

	app := env.reg.Host + "/kiln-test/samples-builder-app:latest"
	out = mustKiln(t, "build", app, "--builder", ref, "--path", appSource(t), "--publish", "--env", "SAMPLE_PLATFORM=yes")
	wantContains(t, out,
		"pass: samples/hello-world@0.0.2",
		"pass: samples/hello-processes@0.0.1",
		`SAMPLE_OPERATOR_VAR="from-builder-toml"`,
		`SAMPLE_PLATFORM="yes"`,
		`:/bin:/opt/operator/bin"`, // appended to the build image's PATH
		"---> Hello processes buildpack",
	)
	out = mustKiln(t, "run", "--process", "sys-info", app)
	wantContains(t, out, "env vars:")
	podmanRuns(t, app, "/cnb/process/sys-info", "env vars:")

	// a build image for none of the targets is refused, naming them
	bad := filepath.Join(dir, "bad.toml")
	data, _ := os.ReadFile(cfg)
	if err := os.WriteFile(bad, []byte(strings.ReplaceAll(strings.ReplaceAll(string(data), `arch = "amd64"`, `arch = "s390x"`), "[lifecycle]", "[lifecycle]\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	r := kiln(t, "builder", "create", env.reg.Host+"/kiln-test/bad-targets:latest", "--config", bad)
	if r.code == 0 {
		t.Fatal("a builder for other platforms was made")
	}
	wantContains(t, r.out, "[[targets]] are linux/s390x, linux/arm64, but the build image", "is linux/amd64")
}

// TestBuildpackForms: --buildpack takes a .cnb file, a buildpackage image
// (docker://), urn:cnb:builder:ID and from=builder, as pack does.
func TestBuildpackForms(t *testing.T) {
	bps := filepath.Join("testdata", "cnb-samples", "buildpacks")
	cnb := filepath.Join(t.TempDir(), "hello-world.cnb")
	mustKiln(t, "buildpack", "package", cnb, "--path", filepath.Join(bps, "hello-world"))
	pkg := env.reg.Host + "/kiln-test/hello-processes-package:1"
	mustKiln(t, "buildpack", "package", pkg, "--path", filepath.Join(bps, "hello-processes"), "--publish")

	out := mustKiln(t, "build", env.reg.Host+"/kiln-test/forms-a:latest", "--builder", env.builder, "--path", appSource(t),
		"--buildpack", cnb, "--buildpack", "docker://"+pkg)
	wantContains(t, out, "pass: samples/hello-world@0.0.2", "pass: samples/hello-processes@0.0.1", "---> Hello World buildpack", "---> Hello processes buildpack")

	// from=builder: the builder's group, with a buildpack before it and
	// one (by urn) after it
	out = mustKiln(t, "build", env.reg.Host+"/kiln-test/forms-b:latest", "--builder", env.builder, "--path", appSource(t),
		"--buildpack", cnb, "--buildpack", "from=builder", "--buildpack", "urn:cnb:builder:kiln-test/app")
	wantContains(t, out, "pass: samples/hello-world@0.0.2", "pass: kiln-test/runtime@1.0.0", "pass: kiln-test/app@2.1.0")

	// a composite buildpack packaged with its members, as a .cnb file
	meta := filepath.Join(t.TempDir(), "meta")
	abs, _ := filepath.Abs(bps)
	for p, body := range map[string]string{
		"buildpack.toml": "api = \"0.10\"\n[buildpack]\nid = \"samples/hello-meta\"\nversion = \"0.0.1\"\n" +
			"[[order]]\n[[order.group]]\nid = \"samples/hello-world\"\nversion = \"0.0.2\"\n" +
			"[[order.group]]\nid = \"samples/hello-processes\"\nversion = \"0.0.1\"\n",
		"package.toml": "[buildpack]\nuri = \".\"\n[[dependencies]]\nuri = \"" + filepath.Join(abs, "hello-world") +
			"\"\n[[dependencies]]\nuri = \"" + filepath.Join(abs, "hello-processes") + "\"\n",
	} {
		if err := os.MkdirAll(meta, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(meta, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	metaCNB := filepath.Join(t.TempDir(), "meta.cnb")
	mustKiln(t, "buildpack", "package", metaCNB, "--path", meta)
	out = mustKiln(t, "build", env.reg.Host+"/kiln-test/forms-c:latest", "--builder", env.builder, "--path", appSource(t), "--buildpack", metaCNB)
	wantContains(t, out, "pass: samples/hello-world@0.0.2", "pass: samples/hello-processes@0.0.1", "---> Hello processes buildpack")

	for _, tc := range []struct{ ref, want string }{
		{filepath.Join(t.TempDir(), "missing.cnb"), "does not exist"},
		{"urn:cnb:builder:kiln-test/nope", "the builder has no such buildpack"},
		{"docker://" + env.reg.Host + "/kiln-test/not-there:1", "not-there"},
	} {
		r := kiln(t, "build", env.reg.Host+"/kiln-test/forms-bad:latest", "--builder", env.builder, "--path", appSource(t), "--buildpack", tc.ref)
		if r.code != 2 {
			t.Errorf("--buildpack %s: exit %d, want 2", tc.ref, r.code)
		}
		wantContains(t, r.out, "--buildpack "+tc.ref, tc.want)
	}
}
