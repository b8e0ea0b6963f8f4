package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/lifecycle/labels"
	"github.com/kiln-build/kiln/lifecycle/project"
)

func TestMergeEnv(t *testing.T) {
	tests := []struct{ base, over, want []string }{
		{nil, nil, nil},
		{[]string{"A=1", "B=2"}, nil, []string{"A=1", "B=2"}},
		{[]string{"A=1", "B=2"}, []string{"B=3", "C=4"}, []string{"A=1", "B=3", "C=4"}},
		{[]string{"A=1"}, []string{"A=", "A=x=y"}, []string{"A=x=y"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, mergeEnv(tt.base, tt.over)); diff != "" {
			t.Errorf("mergeEnv(%q, %q) (-want +got):\n%s", tt.base, tt.over, diff)
		}
	}
}

func TestProjectLabel(t *testing.T) {
	src := t.TempDir() // not a git checkout
	tests := []struct {
		d    *project.Descriptor
		want labels.Project
	}{
		{nil, labels.Project{}},
		{&project.Descriptor{}, labels.Project{}},
		{&project.Descriptor{Project: project.Info{Version: "1.2", SourceURL: "https://example.com/src"}},
			labels.Project{Source: &labels.ProjectSource{Type: "project", Version: map[string]any{"declared": "1.2"}, Metadata: map[string]any{"url": "https://example.com/src"}}}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, projectLabel(src, tt.d, false)); diff != "" {
			t.Errorf("projectLabel (-want +got):\n%s", diff)
		}
	}
}

func TestParseVolume(t *testing.T) {
	tests := []struct {
		in      string
		dst     string
		ro, err bool
	}{
		{in: "/src:/opt/x", dst: "/opt/x", ro: true},
		{in: "/src:/opt/x:ro", dst: "/opt/x", ro: true},
		{in: "/src:/opt/x:rw", dst: "/opt/x"},
		{in: "/src:/opt/x:rx", err: true},
		{in: "/src", err: true},
		{in: ":/opt", err: true},
		{in: "/a:/b:ro:x", err: true},
	}
	for _, tt := range tests {
		m, err := parseVolume(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("parseVolume(%q) err = %v", tt.in, err)
			continue
		}
		if err == nil && (m.Destination != tt.dst || m.ReadOnly != tt.ro || m.Source != "/src") {
			t.Errorf("parseVolume(%q) = %+v", tt.in, m)
		}
	}
}

func TestParseCreationTime(t *testing.T) {
	if got, err := parseCreationTime("1700000000"); err != nil || got.Unix() != 1700000000 {
		t.Errorf("epoch: %v %v", got, err)
	}
	if got, err := parseCreationTime("now"); err != nil || time.Since(got) > time.Minute {
		t.Errorf("now: %v %v", got, err)
	}
	for _, bad := range []string{"", "yesterday", "-1", "1e9", "99999999999999"} {
		if _, err := parseCreationTime(bad); err == nil {
			t.Errorf("parseCreationTime(%q) accepted", bad)
		}
	}
}

func TestStampWriter(t *testing.T) {
	var b strings.Builder
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	w := &stampWriter{w: &b, now: func() time.Time { return at }}
	for _, s := range []string{"one\ntw", "o\n", "three\nfour\n"} {
		if n, err := w.Write([]byte(s)); err != nil || n != len(s) {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	want := "2026/01/02 03:04:05.000006 one\n2026/01/02 03:04:05.000006 two\n2026/01/02 03:04:05.000006 three\n2026/01/02 03:04:05.000006 four\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestNearestCommand(t *testing.T) {
	cmds := newApp().Commands
	for in, want := range map[string]string{"biuld": "build", "rebse": "rebase", "serv": "serve", "inspec": "inspect", "zzzzzz": "", "b": ""} {
		if got := nearestCommand(in, cmds); got != want {
			t.Errorf("nearestCommand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseBinding(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "type"), []byte("npmrc"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := parseBinding("npm=" + dir)
	if err != nil || m.Destination != "/platform/bindings/npm" || !m.ReadOnly || m.Source != dir {
		t.Errorf("parseBinding = %+v, %v", m, err)
	}
	for _, bad := range []string{"npm", "=" + dir, "a/b=" + dir, "..=" + dir, "npm=" + t.TempDir(), "npm=/nonexistent"} {
		if _, err := parseBinding(bad); err == nil {
			t.Errorf("parseBinding(%q) accepted", bad)
		}
	}
}

func TestServeSignKeys(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("COSIGN_PASSWORD", "pw")
	if f, err := serveSignKeys("", ""); err != nil || f != nil {
		t.Fatalf("no keys: func %v, %v", f != nil, err)
	}
	if _, err := serveSignKeys(filepath.Join(dir, "missing.key"), ""); err == nil {
		t.Error("a missing default key was accepted")
	}
	keys := filepath.Join(dir, "keys")
	if err := os.MkdirAll(keys, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(keys, "web.key"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(keys, "evil.key")); err != nil {
		t.Fatal(err)
	}
	f, err := serveSignKeys("", keys)
	if err != nil {
		t.Fatal(err)
	}
	for app, want := range map[string]string{"web": filepath.Join(keys, "web.key"), "api": "", "evil": "", "../keys/web": "", "": ""} {
		if got := f(app, ""); got != want {
			t.Errorf("key of %q = %q, want %q", app, got, want)
		}
	}
	// a key name in the app's settings wins; a missing one is a path
	// the build fails on, never no signing
	if got := f("api", "web"); got != filepath.Join(keys, "web.key") {
		t.Errorf("named key: %q", got)
	}
	if got := f("web", "team-b"); got != filepath.Join(keys, "team-b.key") {
		t.Errorf("missing named key: %q", got)
	}
	if got := f("web", "evil"); got != filepath.Join(keys, "evil.key") {
		t.Errorf("a named key that is a symlink: %q (the build refuses it)", got)
	}
	if _, err := serveSignKeys("", filepath.Join(dir, "nope")); err == nil {
		t.Error("a missing keys dir was accepted")
	}
}

func TestInsideTree(t *testing.T) {
	src, outside := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "real.toml"), []byte(""), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Symlink("real.toml", filepath.Join(src, "in.toml"))
	os.Symlink(filepath.Join(outside, "secret"), filepath.Join(src, "out.toml"))
	os.Symlink("../../../../../../etc/passwd", filepath.Join(src, "climb.toml"))
	for name, ok := range map[string]bool{"real.toml": true, "in.toml": true, "out.toml": false, "climb.toml": false} {
		if err := insideTree(src, filepath.Join(src, name)); (err == nil) != ok {
			t.Errorf("insideTree(%s) = %v, want ok %v", name, err, ok)
		}
	}
}
