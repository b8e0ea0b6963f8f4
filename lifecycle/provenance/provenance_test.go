package provenance

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/kiln-build/kiln/lifecycle/labels"
)

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func writeFile(t *testing.T, p, data string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDescribeGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is needed for this test")
	}
	dir := t.TempDir()
	git(t, dir, "init", "-q")
	writeFile(t, filepath.Join(dir, "app", "main.go"), "package main\n")
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-qm", "first")
	git(t, dir, "remote", "add", "origin", "https://user:s3cret@git.example/team/app.git")
	// A checkout's config must not make kiln run anything.
	marker := filepath.Join(t.TempDir(), "ran")
	hook := filepath.Join(dir, ".git", "hooks", "post-checkout")
	writeFile(t, hook, "#!/bin/sh\ntouch "+marker+"\n")
	os.Chmod(hook, 0o755)
	git(t, dir, "config", "core.fsmonitor", hook)
	commit := git(t, dir, "rev-parse", "HEAD")

	src, err := Describe(context.Background(), filepath.Join(dir, "app"))
	if err != nil {
		t.Fatal(err)
	}
	want := Source{Git: &GitSource{Commit: commit, Remote: "https://git.example/team/app.git", Path: "app"}}
	if diff := cmp.Diff(want, src); diff != "" {
		t.Errorf("source (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("describing the source ran the checkout's fsmonitor")
	}
}

func TestDescribeTree(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.txt"), "one")
	writeFile(t, filepath.Join(dir, "sub", "b.txt"), "two")
	os.Symlink("a.txt", filepath.Join(dir, "link"))
	d := func() string {
		t.Helper()
		src, err := Describe(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		if src.Git != nil || len(src.Digest["sha256"]) != 64 {
			t.Fatalf("source %+v", src)
		}
		return src.Digest["sha256"]
	}
	first := d()
	if d() != first {
		t.Fatal("the tree digest is not stable")
	}
	for _, change := range []func(){
		func() { writeFile(t, filepath.Join(dir, "a.txt"), "ONE") },
		func() { os.Chmod(filepath.Join(dir, "a.txt"), 0o755) },
		func() { os.Rename(filepath.Join(dir, "sub", "b.txt"), filepath.Join(dir, "sub", "c.txt")) },
		func() { os.Remove(filepath.Join(dir, "link")); os.Symlink("sub", filepath.Join(dir, "link")) },
	} {
		before := d()
		change()
		if d() == before {
			t.Error("a change left the tree digest as it was")
		}
	}
	if _, err := Describe(context.Background(), filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing dir: %v", err)
	}
}

func TestStripCredentials(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:tok@git.example/a/b.git": "https://git.example/a/b.git",
		"https://tok@git.example/a/b":          "https://git.example/a/b",
		"ssh://git@git.example/a/b.git":        "ssh://git@git.example/a/b.git",
		"ssh://git:pw@git.example/a/b.git":     "ssh://git.example/a/b.git",
		"git@git.example:a/b.git":              "git@git.example:a/b.git",
		"/srv/repos/a":                         "/srv/repos/a",
		"https://u:s3cret@%zz/a.git":           "",
	} {
		if got := StripCredentials(in); got != want {
			t.Errorf("StripCredentials(%q) = %q, want %q", in, got, want)
		}
	}
}

func labelled(t *testing.T) v1.Image {
	t.Helper()
	img, _ := random.Image(32, 1)
	cfg, _ := img.ConfigFile()
	cfg = cfg.DeepCopy()
	cfg.Config.Labels = map[string]string{
		labels.LifecycleMetadata: `{"runImage":{"image":"reg.example/run:1","reference":"reg.example/run@sha256:` + strings.Repeat("a", 64) + `"}}`,
		labels.BuildMetadata:     `{"buildpacks":[{"id":"kiln/go","version":"1.2.3"},{"id":"kiln/procfile","version":"0.1.0"}]}`,
	}
	img, err := mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestNew(t *testing.T) {
	img := labelled(t)
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b := Build{
		BuilderRef:    "reg.example/builder:1",
		BuilderDigest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("b", 64)},
		SourceDir:     t.TempDir(),
		EnvNames:      []string{"GOFLAGS", "SECRET"},
		StartedOn:     start,
		FinishedOn:    start.Add(time.Minute),
		KilnVersion:   "1.0.0",
	}
	p, err := New(context.Background(), b, img)
	if err != nil {
		t.Fatal(err)
	}
	wantDeps := []ResourceDescriptor{
		{Name: DepBuilder, URI: "oci://reg.example/builder:1", Digest: map[string]string{"sha256": strings.Repeat("b", 64)}},
		{Name: DepRunImage, URI: "oci://reg.example/run:1", Digest: map[string]string{"sha256": strings.Repeat("a", 64)}},
		{Name: DepBuildpack, URI: "urn:cnb:buildpack:kiln/go@1.2.3", Annotations: map[string]string{"id": "kiln/go", "version": "1.2.3"}},
		{Name: DepBuildpack, URI: "urn:cnb:buildpack:kiln/procfile@0.1.0", Annotations: map[string]string{"id": "kiln/procfile", "version": "0.1.0"}},
	}
	if diff := cmp.Diff(wantDeps, p.BuildDefinition.ResolvedDependencies); diff != "" {
		t.Errorf("resolvedDependencies (-want +got):\n%s", diff)
	}
	if p.BuildDefinition.BuildType != BuildType || p.RunDetails.Builder.ID != BuilderIDPrefix+"1.0.0" {
		t.Errorf("buildType %q, builder.id %q", p.BuildDefinition.BuildType, p.RunDetails.Builder.ID)
	}
	if diff := cmp.Diff(&InternalParameters{EnvNames: []string{"GOFLAGS", "SECRET"}}, p.BuildDefinition.InternalParameters); diff != "" {
		t.Errorf("internalParameters (-want +got):\n%s", diff)
	}
	body, _ := p.JSON()
	var raw map[string]any
	json.Unmarshal(body, &raw)
	md := raw["runDetails"].(map[string]any)["metadata"].(map[string]any)
	if md["startedOn"] != "2026-01-02T03:04:05Z" || md["finishedOn"] != "2026-01-02T03:05:05Z" || len(md["invocationId"].(string)) != 36 {
		t.Errorf("metadata %v", md)
	}
	back, err := Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p.BuildDefinition, back.BuildDefinition); diff != "" {
		t.Errorf("decoded (-want +got):\n%s", diff)
	}
}

func TestRebased(t *testing.T) {
	old, err := New(context.Background(), Build{BuilderRef: "reg.example/builder:1", SourceDir: t.TempDir()}, labelled(t))
	if err != nil {
		t.Fatal(err)
	}
	img := labelled(t)
	cfg, _ := img.ConfigFile()
	cfg = cfg.DeepCopy()
	cfg.Config.Labels[labels.LifecycleMetadata] = `{"runImage":{"image":"reg.example/run:2","reference":"reg.example/run@sha256:` + strings.Repeat("c", 64) + `"}}`
	img, _ = mutate.ConfigFile(img, cfg)
	from, _ := name.NewDigest("reg.example/app@sha256:" + strings.Repeat("d", 64))
	p, err := Rebased(old, from, img, "1.0.0", time.Now(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if p.BuildDefinition.ExternalParameters.RebasedFrom != from.String() || p.BuildDefinition.ExternalParameters.BuilderImage != "reg.example/builder:1" {
		t.Errorf("externalParameters %+v", p.BuildDefinition.ExternalParameters)
	}
	ri, _ := p.Dependency(DepRunImage)
	if ri.Digest["sha256"] != strings.Repeat("c", 64) {
		t.Errorf("run image %+v, want the new one", ri)
	}
	if _, ok := p.Dependency(DepBuilder); !ok {
		t.Error("the builder dependency was dropped")
	}
	if p.RunDetails.Metadata.InvocationID == old.RunDetails.Metadata.InvocationID {
		t.Error("the rebase reuses the build's invocation id")
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, in := range []string{`[]`, `{}`, `{"buildDefinition":{"buildType":""}}`, strings.Repeat(" ", maxPredicate+1)} {
		if _, err := Decode([]byte(in)); err == nil {
			t.Errorf("Decode(%.30q) accepted", in)
		}
	}
}

func TestNewBuilderDigestFromLabel(t *testing.T) {
	img := labelled(t)
	cfg, _ := img.ConfigFile()
	cfg = cfg.DeepCopy()
	cfg.Config.Labels[labels.KilnBuilder] = "reg.example:5000/builder:1@sha256:" + strings.Repeat("d", 64)
	img, err := mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(context.Background(), Build{BuilderRef: "reg.example:5000/builder:1"}, img)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := p.Dependency(DepBuilder)
	want := ResourceDescriptor{Name: DepBuilder, URI: "oci://reg.example:5000/builder:1", Digest: map[string]string{"sha256": strings.Repeat("d", 64)}}
	if diff := cmp.Diff(want, d); !ok || diff != "" {
		t.Errorf("builder dependency (-want +got):\n%s", diff)
	}
}

// An untrusted tree is described by its digest, whatever .git it holds:
// a gitdir pointing at a host repository leaks nothing of it.
func TestDescribeUntrusted(t *testing.T) {
	host := t.TempDir()
	git(t, host, "init", "-q")
	writeFile(t, filepath.Join(host, "f"), "x")
	git(t, host, "add", ".")
	git(t, host, "commit", "-qm", "host")
	git(t, host, "remote", "add", "origin", "https://git.example/secret/host.git")
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "main.go"), "package main\n")
	writeFile(t, filepath.Join(src, ".git"), "gitdir: "+filepath.Join(host, ".git")+"\n")

	trusted, err := Describe(context.Background(), src)
	if err != nil || trusted.Git == nil {
		t.Fatalf("Describe followed no gitdir (%+v, %v): the test plants nothing", trusted, err)
	}
	got, err := DescribeUntrusted(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	if got.Git != nil || len(got.Digest["sha256"]) != 64 {
		t.Errorf("DescribeUntrusted = %+v, want only the tree digest", got)
	}
	d, _ := TreeDigest(src)
	if got.Digest["sha256"] != d {
		t.Errorf("digest %s, want TreeDigest's %s", got.Digest["sha256"], d)
	}
}
